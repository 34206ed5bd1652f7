// agents-steps.ts: the agents measure's metrics of the shared system's batched steps (the
// scheduler's step reports), and the steps as the timeline stores them.
import type { StepReport } from '../../runtime/scheduler.js';
import { mean, quantileOrNull as p } from '../stats.js';

/** The step metrics: the shared system's batched steps (null for the other systems). */
export const STEP_METRICS = ['steps', 'step_p50_ms', 'step_p99_ms', 'step_max_ms', 'step_host_max_ms', 'decode_step_p50_ms', 'prefill_step_p50_ms', 'batch_mean', 'host_gap_ms', 'host_gap_max_ms'] as const;

const most = (xs: number[]) => (xs.length > 0 ? xs.reduce((a, b) => Math.max(a, b)) : null);
const round3 = (x: number) => Math.round(x * 1e3) / 1e3;

/**
 * The step metrics of a run's batched steps (those that ran a batch: a report of no session is the
 * scheduler waiting). host_gap_ms is the host's time from one step's end to the next one's start
 * (at[i] - at[i-1] - wall[i]), after the steps that left work pending only: after one that left none,
 * the scheduler idles until an agent asks again, which is the agents' time, not the host's. The maxima
 * place a latency tail: a slow step (step_max_ms), host time inside one (step_host_max_ms: its wall
 * minus its device time, e.g. recording a graph or timing GEMMs), or between two (host_gap_max_ms).
 */
export function stepMetrics(all: readonly StepReport[]): Record<(typeof STEP_METRICS)[number], number | null> {
  const ran = all.filter((r) => r.sessions > 0);
  const wall = ran.map((r) => r.wallMs);
  const gaps = ran.slice(1).flatMap((r, i) => ((ran[i] as StepReport).pending > 0 ? [r.atMs - (ran[i] as StepReport).atMs - r.wallMs] : []));
  return {
    steps: ran.length,
    step_p50_ms: p(wall, 0.5),
    step_p99_ms: p(wall, 0.99),
    step_max_ms: most(wall),
    step_host_max_ms: most(ran.flatMap((r) => (r.deviceMs === null ? [] : [r.wallMs - r.deviceMs]))),
    decode_step_p50_ms: p(ran.filter((r) => r.prefillTokens === 0).map((r) => r.wallMs), 0.5),
    prefill_step_p50_ms: p(ran.filter((r) => r.prefillTokens > 0).map((r) => r.wallMs), 0.5),
    batch_mean: mean(ran.filter((r) => r.decodeTokens > 0).map((r) => r.decodeTokens)),
    host_gap_ms: mean(gaps),
    host_gap_max_ms: most(gaps),
  };
}

/** The timeline's steps: [at ms since the run started, sessions, decode tokens, prefill tokens, wall ms, device ms | null]. */
export const stepRows = (all: readonly StepReport[]) => all.map((r) => [round3(r.atMs), r.sessions, r.decodeTokens, r.prefillTokens, round3(r.wallMs), r.deviceMs === null ? null : round3(r.deviceMs)]);
