// The agents measure on the CPU: four agents over a shared pool that holds fewer than all their
// contexts (the acting ones are paged out and back), beside keep-alive (its copies run out under the
// budget) and serverless (a reload and a re-prefill per step); every agent's tokens agree across systems.
import { describe, expect, it } from 'vitest';
import { buildPlan, modelValue, runPlan } from '../../../lab/index.js';

describe('agents: shared, keep-alive and serverless side by side', () => {
  it('completes every agent on the shared pool with paging, finds keep-alive\'s copies, and the tokens agree', async () => {
    // synthetic:tiny under 5 MB holds two copies; a 96-token shared pool holds two of the four agents' 39-token contexts.
    const settings = { model: modelValue('synthetic:tiny'), budget: 5e6, kv_pool: 96, prompt: { tokens: 24 }, new_tokens: 4, observation: 4, act: 40, iterations: 2, repeat: 1, warmup: 0 };
    const plan = buildPlan([{ name: 'a', measure: 'agents', settings: { ...settings, baselines: ['shared', 'keep-alive', 'serverless'] }, sweeps: [{ name: 'agents', values: [2, 4] }] }]);
    const e = (await runPlan(plan)).experiments[0]!;
    const rows = e.rows.map((r) => [r['system'], r['agents'], r['status'], r['completed'], r['oom'], r['token_match']]);
    expect(rows).toEqual([
      ['shared', 2, 'ok', 2, false, null],
      ['keep-alive', 2, 'ok', 2, false, true],
      ['serverless', 2, 'ok', 2, false, true],
      ['shared', 4, 'ok', 4, false, null],
      ['keep-alive', 4, 'ok', 0, true, null],
      ['serverless', 4, 'ok', 4, false, true],
    ]);
    expect(e['keep_alive_copies']).toBe(2);
    const shared4 = e.rows[3]!;
    expect(shared4['paged_out_bytes'] as number).toBeGreaterThan(0);
    expect(shared4['paged_in_bytes'] as number).toBeGreaterThan(0);
    for (const f of ['reason_p99_ms', 'reflect_p99_ms', 'reflect_ttft_p99_ms', 'per_token_p99_ms', 'tokens_per_s']) expect(shared4[f] as number).toBeGreaterThan(0);
    expect(e.rows[5]!['reload_ms'] as number).toBeGreaterThan(0);
    expect(e.check).toMatchObject({ pass: true });
    // The timeline of the largest shared run: each agent's reason, act and reflect phases, and its pages.
    const timeline = e['agent_timeline'] as { system: string; agents: number; phases: unknown[][]; paging: unknown[] };
    expect([timeline.system, timeline.agents, timeline.phases.length]).toEqual(['shared', 4, 4]);
    for (const phases of timeline.phases) expect(phases).toHaveLength(6);
    expect(timeline.paging.length).toBeGreaterThan(0);
  }, 120_000);
});
