// The batch-decode measure on the CPU: only the steps that carry one token of every session are
// timed, beside the batch's floor (weights and KV at the probed device-to-device bandwidth).
import { describe, expect, it } from 'vitest';
import { buildPlan, modelValue, runPlan } from '../../../lab/index.js';

describe('batch-decode: lockstep decode steps of 1 and 4 sessions', () => {
  it('times only the steps that carry one token of every session, beside a floor', async () => {
    const settings = { model: modelValue('synthetic:tiny'), prompt: { tokens: 24 }, steps: 6, probe: 1 << 20, repeat: 1, warmup: 0 };
    const plan = buildPlan([{ name: 'b', measure: 'batch-decode', settings, sweeps: [{ name: 'batch', values: [1, 4] }] }]);
    const e = (await runPlan(plan)).experiments[0]!;
    expect(e['d2d_gbps'] as number).toBeGreaterThan(0);
    expect(e.rows.map((r) => [r['batch'], r['status']])).toEqual([
      [1, 'ok'],
      [4, 'ok'],
    ]);
    // One session alone: every one of the 6 steps after the first token's; four: those all four are in
    // (a session's first decode may start a step before the others have submitted).
    expect(e.rows[0]!['decode_steps']).toBe(5);
    expect(e.rows[1]!['decode_steps'] as number).toBeGreaterThanOrEqual(1);
    expect(e.rows[1]!['decode_steps'] as number).toBeLessThanOrEqual(5);
    for (const r of e.rows) expect(r['x_floor'] as number).toBeCloseTo((r['step_ms'] as number) / (r['floor_ms'] as number), 6);
  }, 60_000);
});
