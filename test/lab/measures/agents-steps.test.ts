import { describe, expect, it } from 'vitest';

import { stepMetrics, stepRows } from '../../../lab/measures/agents-steps.js';
import type { StepReport } from '../../../runtime/scheduler.js';

// A step read at `atMs` after `wallMs` on the host, `deviceMs` of it on the device.
const step = (atMs: number, wallMs: number, deviceMs: number | null, o: Partial<StepReport> = {}): StepReport => ({
  step: 1,
  sessions: 2,
  decodeTokens: 2,
  prefillTokens: 0,
  finished: 0,
  pending: 1,
  leftOut: 0,
  wallMs,
  deviceMs,
  atMs,
  ...o,
});

describe('stepMetrics', () => {
  it('places a tail: the slowest step, the most host time inside one and the longest gap between two', () => {
    const m = stepMetrics([
      step(10, 5, 4),
      step(20, 6, 1, { prefillTokens: 64 }), // 5 ms of it on the host; 10 - 6 = 4 ms after the first
      step(40, 8, 7), // 20 - 8 = 12 ms after the second
      step(41, 0, null, { sessions: 0 }), // the scheduler waiting: no step
      step(60, 5, 4, { pending: 0 }), // 20 - 5 = 15 ms after the third
      step(200, 5, 4), // after one that left nothing pending: the agents' time, not counted
    ]);
    expect(m).toEqual({
      steps: 5,
      step_p50_ms: 5,
      step_p99_ms: 8,
      step_max_ms: 8,
      step_host_max_ms: 5,
      decode_step_p50_ms: 5,
      prefill_step_p50_ms: 6,
      batch_mean: 2,
      host_gap_ms: (4 + 12 + 15) / 3,
      host_gap_max_ms: 15,
    });
  });

  it('gives null for what no step measured', () => {
    const m = stepMetrics([step(10, 5, null)]);
    expect([m.steps, m.step_max_ms, m.step_host_max_ms, m.prefill_step_p50_ms, m.host_gap_ms, m.host_gap_max_ms]).toEqual([1, 5, null, null, null, null]);
  });
});

describe('stepRows', () => {
  it('keeps each step as [at, sessions, decode, prefill, wall, device], times to the microsecond', () => {
    expect(stepRows([step(1.23456, 2.5, null, { prefillTokens: 3 })])).toEqual([[1.235, 2, 2, 3, 2.5, null]]);
  });
});
