// results.ts: the shape of results: what an experiment run returns and writes (lab/result-files.ts),
// and what bench/*.ts writes under bench/results/ (the same, per measure, with the baselines measured
// outside vramlab merged in).
//
//   { "benchmark": "streaming", "device": "...", "commit": "...", "date": "...", "model": "...",
//     ...evidence of the run (budget_bytes, pinned_h2d_gbps, hbm_floor_ms, timelines, ...),
//     "rows": [ { "placement": "stream", "effective_bandwidth_gbps": 52.1, ... }, ... ] }
import type { ModelShape } from '../runtime/synthetic.js';

/** One row of a results file: values by column name (nested values are allowed and shown as JSON). */
export type Row = Record<string, unknown>;

/** One measured row of a run: column name -> a number, string, boolean or null. */
export type ResultRow = Record<string, number | string | boolean | null>;

/** One layer of a pass, as the runtime's per-layer timeline reports it (ms from the pass's start). */
export interface TimelineEntry {
  layer: number;
  copyStartMs: number | null;
  copyEndMs: number | null;
  computeStartMs: number;
  computeEndMs: number;
}

/** The correctness check of a run: what was compared, the tolerance, the verdict and the worst error. */
export interface Check {
  what: string;
  tolerance: number;
  pass: boolean;
  worst: number | null;
}

/**
 * A results object: the rows and the evidence of the run. Files may hold more fields (they are kept);
 * the optional ones below are those the figures read when present.
 */
export interface Results {
  /** What was measured: a measure's name ("streaming", "decode", ...), or "correctness". */
  benchmark: string;
  device: string;
  commit: string;
  date?: string;
  model?: string | null;
  /** The model's weight bytes (its size, as the evidence names it). */
  weight_bytes?: number | null;
  driver?: string | null;
  budget_bytes?: number | null;
  /** streaming: the machine's host-to-device bandwidth, probed in the same run. */
  pinned_h2d_gbps?: number | null;
  pageable_h2d_gbps?: number | null;
  /** streaming: the resident run without a budget the placements are checked against. */
  resident_reference?: { latency_ms?: number; peak_vram_gb?: number } | null;
  /** streaming: per placement, per pass ("prefill", "decode_last"), the per-layer timeline. */
  timelines?: Record<string, Record<string, TimelineEntry[]>>;
  /** decode: weight bytes / device-to-device bandwidth, the per-token latency floor. */
  hbm_floor_ms?: number | null;
  /** breakpoints: what pausing costs an uninterrupted pass (the worst depth's median of paired differences). */
  pause_overhead_ms?: number | null;
  /** breakpoints: the device time a pause adds between two layers (breakpoint layer done -> the next ready). */
  pause_gap_ms?: number | null;
  /** breakpoints: the uninterrupted pass the pauses are compared with (median; device time since b935b88). */
  uninterrupted_ms?: number | null;
  /** experiment runs: the correctness check of the run, and why it stopped early. */
  check?: Check | null;
  stopped?: string | null;
  rows: Row[];
  [field: string]: unknown;
}

/** One experiment's results as a run returns them: the evidence of the run and its rows. */
export interface ExperimentResult extends Results {
  experiment: string;
  file: string;
  date: string;
  /** The VRAM budget of the first measured step's runtime, in bytes (the device's memory when none was set). */
  budget_bytes: number | null;
  model: string | null;
  model_shape: ModelShape | null;
  weight_bytes: number | null;
  repeat: number;
  warmup: number;
  /** The run's correctness check where the measure has one and a run was compared, null otherwise. */
  check: Check | null;
  /** Null when every step ran; "cancelled" or "time_limit" when the run stopped early. */
  stopped: 'cancelled' | 'time_limit' | null;
  rows: ResultRow[];
}
