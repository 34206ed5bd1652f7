// breakpoints-overhead.ts: what a pause costs an uninterrupted pass, the breakpoints measure's
// on-request metrics. In a resume run that asks for them, an uninterrupted pass and a pass paused
// after the layer and resumed at once (no edit) run back to back, their order alternating from run to
// run so that clock and thermal drift cancel; each is timed on the device (first work to logits on the
// host, the pause's save and restore included and the device's wait for the resume call left out, which
// pause_gap_ms holds: the host's own scheduling noise, an IQR of 1 to 4 ms on the H200, is left out)
// and on the host (wall clock). Per run:
//   pause_overhead_ms       paused pass - uninterrupted pass, device time (wall: pause_overhead_wall_ms)
//   pause_gap_ms            the device time from the breakpoint layer done to the next layer ready to
//                           run: what the pause puts into an otherwise back-to-back stream of layers
//   pause_gap_read_ms       the same gap when the activation is read between the pause and the resume
//                           (the host then waits for the device, and the device for the host's round
//                           trip through JavaScript): a third pass, after the pair
// Over an experiment (overheadSummary): per depth the median of the paired differences and their
// interquartile range as the noise; the evidence holds the worst depth, checked against 0.5 ms.
import type { Logits } from '../../runtime/logits.js';
import type { Session } from '../../runtime/session.js';
import { expectLogits, expectPaused } from '../edits.js';
import type { StepContext } from '../measure.js';
import type { ResultRow } from '../results.js';
import { iqr, median, relativeError } from '../stats.js';

/** The limit a pause and resume may add to an uninterrupted pass (the seeds' breakpoint bar). */
export const OVERHEAD_LIMIT_MS = 0.5;

/** The on-request metrics of a resume run (the uninterrupted and the paused pass of the pair, their difference, the gaps). */
export const OVERHEAD_METRICS: readonly string[] = ['uninterrupted_pass_ms', 'paused_pass_ms', 'pause_overhead_ms', 'pause_overhead_wall_ms', 'pause_gap_ms', 'pause_gap_read_ms'];

export const OVERHEAD_EVIDENCE = {
  uninterrupted_ms: 'number',
  pause_overhead_ms: 'number',
  pause_overhead_wall_ms: 'number',
  pause_gap_ms: 'number',
  pause_gap_read_ms: 'number',
  pause_overhead_limit_ms: 'number',
  pause_overhead_ok: 'boolean',
  pause_gap_ok: 'boolean',
} as const;

interface Pass {
  ms: number;
  deviceMs: number | null;
  gapMs: number | null;
  logits: Float32Array;
}

/** One pass over the prompt from an empty session: uninterrupted (layer null) or paused after `layer` and resumed. */
async function pass(session: Session, ids: number[], layer: number | null, read = false): Promise<Pass> {
  session.reset();
  const t0 = performance.now();
  let gapMs: number | null = null;
  let out: Logits;
  if (layer === null) out = (await session.forward(ids)) as Logits;
  else {
    const p = expectPaused(await session.forward(ids, { breakpoints: [layer] }));
    if (read) p.activation();
    out = expectLogits(await p.resume());
    gapMs = p.stats().gapMs;
  }
  const ms = performance.now() - t0;
  return { ms, deviceMs: session.lastStep().deviceMs, gapMs, logits: out.data };
}

/** The on-request metrics of one resume run; both paused passes' logits go to the correctness check. */
export async function overheadRun(session: Session, ids: number[], layer: number, c: StepContext): Promise<ResultRow> {
  const plainFirst = c.run % 2 === 0;
  const first = await pass(session, ids, plainFirst ? null : layer);
  c.checkpoint();
  const second = await pass(session, ids, plainFirst ? layer : null);
  const [whole, resumed] = plainFirst ? [first, second] : [second, first];
  c.compared(relativeError(resumed.logits, whole.logits));
  let readGap: number | null = null;
  if (c.wants('pause_gap_read_ms')) {
    c.checkpoint();
    const read = await pass(session, ids, layer, true);
    c.compared(relativeError(read.logits, whole.logits));
    readGap = read.gapMs;
  }
  const device = whole.deviceMs !== null && resumed.deviceMs !== null;
  return {
    uninterrupted_pass_ms: whole.deviceMs,
    paused_pass_ms: resumed.deviceMs,
    pause_overhead_ms: device ? (resumed.deviceMs as number) - (whole.deviceMs as number) : null,
    pause_overhead_wall_ms: resumed.ms - whole.ms,
    pause_gap_ms: resumed.gapMs,
    pause_gap_read_ms: readGap,
  };
}

/** The finite numbers of a column over rows. */
function column(rows: readonly ResultRow[], field: string): number[] {
  return rows.map((r) => r[field]).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
}

function medianOrNull(xs: readonly number[]): number | null {
  return xs.length === 0 ? null : median(xs);
}

/** Per depth: the medians of the paired differences and gaps over the resume runs, with the differences' IQR. */
export interface LayerOverhead {
  layer: number;
  paused_pass_ms: number | null;
  pause_overhead_ms: number | null;
  pause_overhead_iqr_ms: number | null;
  pause_overhead_wall_ms: number | null;
  pause_overhead_wall_iqr_ms: number | null;
  pause_gap_ms: number | null;
  pause_gap_read_ms: number | null;
}

export function overheadByLayer(rows: readonly ResultRow[]): LayerOverhead[] {
  const resumed = rows.filter((r) => r['baseline'] === 'resume' && typeof r['layer'] === 'number');
  const layers = [...new Set(resumed.map((r) => r['layer'] as number))];
  return layers.map((layer) => {
    const at = resumed.filter((r) => r['layer'] === layer);
    const diffs = column(at, 'pause_overhead_ms');
    const wall = column(at, 'pause_overhead_wall_ms');
    return {
      layer,
      paused_pass_ms: medianOrNull(column(at, 'paused_pass_ms')),
      pause_overhead_ms: medianOrNull(diffs),
      pause_overhead_iqr_ms: diffs.length > 0 ? iqr(diffs) : null,
      pause_overhead_wall_ms: medianOrNull(wall),
      pause_overhead_wall_iqr_ms: wall.length > 0 ? iqr(wall) : null,
      pause_gap_ms: medianOrNull(column(at, 'pause_gap_ms')),
      pause_gap_read_ms: medianOrNull(column(at, 'pause_gap_read_ms')),
    };
  });
}

/** The experiment's evidence: the worst depth of each, and the limit; null when no run measured the overhead. */
export function overheadSummary(rows: readonly ResultRow[]): Record<keyof typeof OVERHEAD_EVIDENCE, number | boolean | null> | null {
  const uninterrupted = column(rows, 'uninterrupted_pass_ms');
  if (uninterrupted.length === 0) return null;
  const byLayer = overheadByLayer(rows);
  const worst = (f: keyof LayerOverhead): number | null => {
    const xs = byLayer.map((l) => l[f]).filter((x): x is number => x !== null);
    return xs.length === 0 ? null : Math.max(...xs);
  };
  const overhead = worst('pause_overhead_ms');
  const gap = worst('pause_gap_ms');
  return {
    uninterrupted_ms: median(uninterrupted),
    pause_overhead_ms: overhead,
    pause_overhead_wall_ms: worst('pause_overhead_wall_ms'),
    pause_gap_ms: gap,
    pause_gap_read_ms: worst('pause_gap_read_ms'),
    pause_overhead_limit_ms: OVERHEAD_LIMIT_MS,
    pause_overhead_ok: overhead === null ? null : overhead <= OVERHEAD_LIMIT_MS,
    pause_gap_ok: gap === null ? null : gap <= OVERHEAD_LIMIT_MS,
  };
}
