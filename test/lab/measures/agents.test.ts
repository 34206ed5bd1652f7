// The agents measure on the CPU: four agents over a shared pool that holds fewer than all their
// contexts (the acting ones are paged out and back), beside keep-alive (its copies run out under the
// budget) and serverless (a reload and a re-prefill per step); every agent's tokens agree across systems.
// The shared runs record the scheduler's batched steps: every token the agents ran is in one of them.
import { describe, expect, it, vi } from 'vitest';
import { buildPlan, modelValue, runPlan } from '../../../lab/index.js';
import { agreement } from '../../../lab/measures/agents.js';
import { Model } from '../../../runtime/runtime.js';

describe('agents: shared, keep-alive and serverless side by side', () => {
  it('completes every agent on the shared pool with paging, finds keep-alive\'s copies, and the tokens agree', async () => {
    // synthetic:tiny under 5 MB holds two copies; a 96-token shared pool holds two of the four agents' 39-token contexts.
    const settings = { model: modelValue('synthetic:tiny'), budget: 5e6, kv_pool: 96, prompt: { tokens: 24 }, new_tokens: 4, observation: 4, act: 40, iterations: 2, repeat: 1, warmup: 0 };
    const plan = buildPlan([{ name: 'a', measure: 'agents', settings: { ...settings, baselines: ['shared', 'keep-alive', 'serverless'] }, sweeps: [{ name: 'agents', values: [2, 4] }] }]);
    const reload = vi.spyOn(Model.prototype, 'reload');
    const e = (await runPlan(plan)).experiments[0]!;
    // Serverless reloads once per step, and once before each run's clock (its host copy pinned then):
    // 2 and 4 agents of 2 cycles of 2 steps.
    expect(reload).toHaveBeenCalledTimes(2 * 2 * 2 + 1 + (2 * 2 * 4 + 1));
    reload.mockRestore();
    const rows = e.rows.map((r) => [r['system'], r['agents'], r['status'], r['completed'], r['oom'], r['token_match'], r['token_agreement']]);
    expect(rows).toEqual([
      ['shared', 2, 'ok', 2, false, null, null],
      ['keep-alive', 2, 'ok', 2, false, true, 1],
      ['serverless', 2, 'ok', 2, false, true, 1],
      ['shared', 4, 'ok', 4, false, null, null],
      ['keep-alive', 4, 'ok', 0, true, null, null],
      ['serverless', 4, 'ok', 4, false, true, 1],
    ]);
    expect(e['keep_alive_copies']).toBe(2);
    const shared4 = e.rows[3]!;
    expect(shared4['paged_out_bytes'] as number).toBeGreaterThan(0);
    expect(shared4['paged_in_bytes'] as number).toBeGreaterThan(0);
    expect(shared4['host_alloc_ms']).toBe(0); // the host store was pinned before the clock
    for (const f of ['reason_p99_ms', 'reflect_p99_ms', 'reflect_ttft_p99_ms', 'per_token_p99_ms', 'tokens_per_s']) expect(shared4[f] as number).toBeGreaterThan(0);
    expect(e.rows[5]!['reload_ms'] as number).toBeGreaterThan(0);
    // The workload's cap on tokens/s, the same for every system at an N: 2 agents of 2 cycles of 2 x 4
    // tokens over 2.5 acts of 40 ms (the second starts half an act late), 4 agents over 2.75 acts.
    expect(e.rows.map((r) => r['tokens_per_s_bound'] ?? null)).toEqual([320, 320, 320, 64_000 / 110, null, 64_000 / 110].map((v) => (v === null ? null : expect.closeTo(v, 9))));
    for (const r of e.rows) if (r['tokens_per_s'] != null) expect(r['tokens_per_s'] as number).toBeLessThan(r['tokens_per_s_bound'] as number);
    // The batched steps of the shared runs; the other systems run none.
    for (const r of [e.rows[0]!, shared4]) {
      expect(r['prefill_chunk']).toBe(128);
      expect(r['steps'] as number).toBeGreaterThan(0);
      expect(r['step_p50_ms'] as number).toBeGreaterThan(0);
      expect(r['step_p99_ms'] as number).toBeGreaterThanOrEqual(r['step_p50_ms'] as number);
      expect(r['decode_step_p50_ms'] as number).toBeGreaterThan(0);
      expect(r['prefill_step_p50_ms'] as number).toBeGreaterThan(0);
      expect(r['batch_mean'] as number).toBeGreaterThanOrEqual(1);
      expect(r['batch_mean'] as number).toBeLessThanOrEqual(r['agents'] as number);
      expect(r['host_gap_ms'] as number).toBeGreaterThanOrEqual(0);
      expect(r['step_max_ms'] as number).toBeGreaterThanOrEqual(r['step_p99_ms'] as number);
      expect(r['step_host_max_ms'] as number).toBeGreaterThanOrEqual(0);
      expect(r['step_host_max_ms'] as number).toBeLessThanOrEqual(r['step_max_ms'] as number);
      expect(r['host_gap_max_ms'] as number).toBeGreaterThanOrEqual(r['host_gap_ms'] as number);
    }
    for (const r of [e.rows[1]!, e.rows[2]!, e.rows[4]!, e.rows[5]!])
      for (const f of ['steps', 'step_p50_ms', 'step_p99_ms', 'step_max_ms', 'step_host_max_ms', 'decode_step_p50_ms', 'prefill_step_p50_ms', 'batch_mean', 'host_gap_ms', 'host_gap_max_ms']) expect([r['system'], f, r[f]]).toEqual([r['system'], f, null]);
    expect(e.check).toMatchObject({ pass: true });
    // The timeline of the largest shared run: each agent's reason, act and reflect phases, and its pages.
    const timeline = e['agent_timeline'] as { system: string; agents: number; prefill_chunk: number; phases: unknown[][]; paging: unknown[]; steps: (number | null)[][] };
    expect([timeline.system, timeline.agents, timeline.prefill_chunk, timeline.phases.length]).toEqual(['shared', 4, 128, 4]);
    for (const phases of timeline.phases) expect(phases).toHaveLength(6);
    expect(timeline.paging.length).toBeGreaterThan(0);
    // ... and its batched steps, [at_ms, sessions, decode_tokens, prefill_tokens, wall_ms, device_ms].
    // Every token an agent feeds the model is in exactly one step: per cycle a reason step prefills its
    // input (the prompt, then the last reflect token) and decodes new_tokens - 1 tokens (its last pick is
    // not run), a reflect step prefills the last reason token and the observation and decodes
    // new_tokens - 1: 24 + 1 + 2 * (3 + 1 + 4 + 3) = 47 tokens an agent, 4 * 47 = 188 in all.
    const perAgent = settings.prompt.tokens + (settings.iterations - 1) + settings.iterations * (2 * (settings.new_tokens - 1) + 1 + settings.observation);
    expect(perAgent).toBe(47);
    const ran = timeline.steps.filter((r) => (r[1] as number) > 0);
    expect(ran.length).toBe(shared4['steps']);
    expect(timeline.steps.reduce((a, r) => a + (r[2] as number) + (r[3] as number), 0)).toBe(4 * perAgent);
    // Decode tokens alone: new_tokens - 1 per reason and reflect step of each agent.
    expect(timeline.steps.reduce((a, r) => a + (r[2] as number), 0)).toBe(4 * 2 * settings.iterations * (settings.new_tokens - 1));
    for (const [at, sessions, decode, prefill, wall, device] of timeline.steps) {
      expect(at as number).toBeGreaterThanOrEqual(0);
      expect(sessions as number).toBeLessThanOrEqual(4);
      expect((decode as number) + (prefill as number)).toBeGreaterThanOrEqual(sessions as number);
      expect(wall as number).toBeGreaterThanOrEqual(0);
      expect(device === null || typeof device === 'number').toBe(true);
      for (const x of [at, wall, device]) if (x !== null) expect(Math.round(x * 1e3) / 1e3).toBe(x);
    }
    // In time order.
    expect(timeline.steps.map((r) => r[0])).toEqual([...timeline.steps.map((r) => r[0] as number)].sort((a, b) => a - b));
  }, 120_000);
});

describe('agents: token agreement', () => {
  it('counts each agent\'s tokens up to its first difference from the reference', () => {
    // Agent 0 parts at its third token (2 of 4 agree), agent 1 agrees throughout (3), agent 2 at once (0 of 2).
    expect(agreement([[1, 2, 3, 4], [5, 6, 7], [8, 9]], [[1, 2, 0, 4], [5, 6, 7], [0, 9]])).toBeCloseTo(5 / 9, 12);
    expect(agreement([[1]], [[1]])).toBe(1);
  });
});
