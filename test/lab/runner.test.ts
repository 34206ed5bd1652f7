// The runner: plans run on the CPU backend, rows in the seeds' shapes, the correctness checks,
// cancelling and time limits keeping the rows so far, out-of-memory steps as rows, CSV.
import { describe, expect, it } from 'vitest';
import { promptIds, randomVector } from '../../lab/inputs.js';
import type { DecodeStep } from '../../lab/measures/decode.js';
import type { StreamStep } from '../../lab/measures/streaming.js';
import type { ExperimentPlan, LoadPlan, Plan } from '../../lab/plan.js';
import { rowsToCsv } from '../../lab/result-files.js';
import { runPlan, type RunProgress } from '../../lab/runner.js';

const TINY = 'synthetic:tiny';
const load = (extra: Partial<LoadPlan> = {}): LoadPlan => ({ model: TINY, budget: null, placement: 'resident', ring: null, prefetch: null, kvPoolTokens: 64, kvBlockTokens: 16, ...extra });

function decodePlan(extra: Partial<ExperimentPlan> = {}, steps?: DecodeStep[]): Plan {
  const step = (baseline: DecodeStep['baseline']): DecodeStep => ({ op: 'decode', baseline, load: load(), prompt: { tokens: 12, seed: 3 }, newTokens: 5, sessions: 1, point: {} });
  return {
    file: 'test',
    experiments: [
      {
        name: 'd',
        measure: 'decode',
        device: 'cpu',
        model: TINY,
        repeat: 2,
        warmup: 1,
        timeLimitMs: null,
        metrics: ['per_token_ms', 'tokens_generated', 'token_match'],
        tolerance: 1e-3,
        steps: steps ?? [step('kv-cache'), step('stateless')],
        ...extra,
      },
    ],
  };
}

describe('runPlan', () => {
  it('runs decode with both baselines: a row per measured run, the same greedy tokens, the evidence', async () => {
    const progress: RunProgress[] = [];
    const result = await runPlan(decodePlan(), { onProgress: (p) => progress.push(p) });
    const e = result.experiments[0]!;
    expect(result.cancelled).toBe(false);
    expect(e.rows.map((r) => [r['baseline'], r['run_id'], r['tokens_generated'], r['token_match'], r['status']])).toEqual([
      ['kv-cache', 0, 5, true, 'ok'],
      ['kv-cache', 1, 5, true, 'ok'],
      ['stateless', 0, 5, true, 'ok'],
      ['stateless', 1, 5, true, 'ok'],
    ]);
    // Only the metrics asked for, after the step's parameters.
    expect(Object.keys(e.rows[0]!)).toEqual(['baseline', 'placement', 'budget_bytes', 'kv_pool_tokens', 'prompt_tokens', 'new_tokens', 'sessions', 'run_id', 'per_token_ms', 'tokens_generated', 'token_match', 'status']);
    expect(e.device).toMatch(/^cpu/);
    expect(e.commit).toMatch(/^([0-9a-f]{40}(-dirty)?|unknown)$/);
    expect(e.model_shape?.numLayers).toBe(4);
    expect(e.check).toMatchObject({ pass: true });
    expect(e.stopped).toBeNull();
    expect(progress[progress.length - 1]).toMatchObject({ done: 6, total: 6 });
  });

  it('stops when cancelled and keeps the rows so far', async () => {
    const controller = new AbortController();
    const result = await runPlan(decodePlan({ repeat: 50 }), {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.done === 3) controller.abort();
      },
    });
    const e = result.experiments[0]!;
    expect(result.cancelled).toBe(true);
    expect(e.stopped).toBe('cancelled');
    expect(e.rows.length).toBe(2); // one warm-up, two measured runs, then the abort
  });

  it('stops at the time limit', async () => {
    const result = await runPlan(decodePlan({ repeat: 10_000, timeLimitMs: 300 }));
    const e = result.experiments[0]!;
    expect(e.stopped).toBe('time_limit');
    expect(result.cancelled).toBe(false);
    expect(e.rows.length).toBeGreaterThan(0);
    expect(e.rows.length).toBeLessThan(10_000);
  });

  it('records a step that does not fit the budget as an out_of_memory row and goes on', async () => {
    const stream = (baseline: StreamStep['baseline']): StreamStep => ({
      op: 'stream',
      baseline,
      load: load({ budget: 1_500_000, placement: baseline, ring: baseline === 'resident' ? null : 800 * 1024 }),
      prompt: { tokens: 8, seed: 1 },
      newTokens: 2,
      point: {},
    });
    const plan: Plan = {
      file: 'test',
      experiments: [
        {
          ...decodePlan().experiments[0]!,
          measure: 'streaming',
          repeat: 1,
          warmup: 0,
          metrics: ['bytes_streamed', 'logit_rel_err', 'logit_match'],
          steps: [{ op: 'probe', bytes: 1 << 20, point: {} }, { op: 'reference', load: load({ kvPoolTokens: 16 }), prompt: { tokens: 8, seed: 1 }, newTokens: 2, point: {} }, stream('resident'), stream('stream')],
        },
      ],
    };
    const e = (await runPlan(plan)).experiments[0]!;
    expect(e.rows.map((r) => [r['placement'], r['run_id'], r['status']])).toEqual([
      ['resident', null, 'out_of_memory'],
      ['stream', 0, 'ok'],
    ]);
    expect(e.rows[1]!['bytes_streamed']).toBeGreaterThan(0);
    expect(e.rows[1]!['logit_rel_err']).toBe(0); // the CPU streams bit-identically
    expect(e.check).toMatchObject({ pass: true, worst: 0 });
    expect(e.budget_bytes).toBe(1_500_000);
    expect(e.pinned_h2d_gbps).toBeGreaterThan(0);
  });
});

describe('helpers', () => {
  it('generates the same prompt ids for a seed, inside the vocabulary', () => {
    const a = promptIds({ tokens: 100, seed: 7 }, 300);
    expect(a).toEqual(promptIds({ tokens: 100, seed: 7 }, 300));
    expect(a).not.toEqual(promptIds({ tokens: 100, seed: 8 }, 300));
    expect(Math.max(...a)).toBeLessThan(300);
    expect(Math.min(...a)).toBeGreaterThanOrEqual(0);
    expect(promptIds({ ids: [3, 4] }, 300)).toEqual([3, 4]);
  });

  it('makes random vectors of the asked norm', () => {
    const v = randomVector(128, 4, 1);
    expect(Math.hypot(...v)).toBeCloseTo(4, 4);
    expect(randomVector(128, 4, 1)).toEqual(v);
  });

  it('writes CSV with a header of every column and RFC 4180 quoting', () => {
    expect(rowsToCsv([{ a: 1, b: 'x,y' }, { a: null, c: 'say "hi"', b: true }])).toBe('a,b,c\n1,"x,y",\n,true,"say ""hi"""\n');
  });
});

describe('breakpoint edits', () => {
  it('replace: patches in the activation of another prompt of the same length (no steer reference to check against)', async () => {
    const step = (replace: number[]) => ({
      op: 'breakpoint' as const,
      baseline: 'resume' as const,
      load: load({ kvPoolTokens: 32 }),
      prompt: { ids: [5, 6, 7, 8] },
      layer: 1,
      edit: { replace: { ids: replace } },
      point: {},
    });
    const base = decodePlan().experiments[0]!;
    const plan: Plan = { file: 'test', experiments: [{ ...base, measure: 'breakpoints', repeat: 1, warmup: 0, metrics: ['resume_ms', 'logit_rel_err'], steps: [step([5, 6, 7, 8]), step([9, 10, 11, 12])] }] };
    const e = (await runPlan(plan)).experiments[0]!;
    expect(e.rows.map((r) => [r['edit'], r['status']])).toEqual([
      ['replace with the activation of ids 5 6 7 8', 'ok'],
      ['replace with the activation of ids 9 10 11 12', 'ok'],
    ]);
    expect(e.rows[0]!['logit_rel_err']).toBeNull(); // replace has no steer reference
  });
});
