// plan.ts: a Plan, what the runner executes: plain data (JSON as it is), every value resolved
// (units to bytes and milliseconds, defaults filled in, sweeps expanded into steps). The .vlab
// compiler (dsl/compiler.ts) writes Plans; anyone may build one by hand.
//
//   { "file": "experiments/decode.vlab", "experiments": [ { "name": "decode", "measure": "decode",
//     "device": "cpu", "repeat": 3, "warmup": 1, ..., "steps": [
//       { "op": "decode", "baseline": "kv-cache", "load": {...}, "prompt": {"tokens": 72, "seed": 1}, ... },
//       { "op": "decode", "baseline": "stateless", ... } ] } ] }
import type { Placement } from '../runtime/types.js';

/** What an experiment measures; each has its own step op, baselines and row columns. */
export type Measure = 'copy_bandwidth' | 'streaming' | 'decode' | 'breakpoints' | 'steering';
export const MEASURES: readonly Measure[] = ['copy_bandwidth', 'streaming', 'decode', 'breakpoints', 'steering'];

/** A prompt: `tokens` ids drawn from a seeded generator, or given ids (with the text they came from). */
export type PromptPlan = { tokens: number; seed: number } | { ids: number[]; text?: string };

/** An edit of the activation after a layer: scale it, add a vector at every position, or replace it. */
export interface EditPlan {
  scale?: number;
  /** A seeded random direction of L2 norm `norm`, or the vector itself (hidden size long). */
  add?: { norm: number; seed: number } | { values: number[] };
  /** The activation of another prompt (of the same length) at the same layer: activation patching. */
  replace?: PromptPlan;
}

/** How to open the runtime and load the model of a step. */
export interface LoadPlan {
  /** A model directory (absolute path) or "synthetic:<spec>". */
  model: string;
  /** VRAM budget in bytes; null: the device's memory. */
  budget: number | null;
  placement: Placement;
  /** Ring bytes for streamed layers; null: the runtime's default (two layers). */
  ring: number | null;
  /** Streamed layers copied ahead; null: the runtime's default (1). */
  prefetch: number | null;
  kvPoolTokens: number;
  kvBlockTokens: number;
}

/** The swept values of a step, by setting name, for labels and rows ("ring": 2000000000). */
export type SweepPoint = Record<string, number | string>;

/** Host-to-device copies of `bytes` from pinned or pageable memory, `copies` timed per run. */
export interface CopyStep {
  op: 'copy';
  baseline: 'pinned' | 'pageable';
  bytes: number;
  copies: number;
  point: SweepPoint;
}

/** The resident run without a budget whose logits the streaming rows are checked against. */
export interface ReferenceStep {
  op: 'reference';
  load: LoadPlan;
  prompt: PromptPlan;
  point: SweepPoint;
}

/** A prefill then `newTokens` decode steps under one placement (the baseline). */
export interface StreamStep {
  op: 'stream';
  baseline: Placement;
  load: LoadPlan;
  prompt: PromptPlan;
  newTokens: number;
  point: SweepPoint;
}

/**
 * Greedy decoding of `newTokens` tokens by `sessions` sessions sharing the weights, round robin:
 * with the KV cache (kv-cache) or re-running the whole prefix for every token (stateless).
 */
export interface DecodeStep {
  op: 'decode';
  baseline: 'kv-cache' | 'stateless';
  load: LoadPlan;
  prompt: PromptPlan;
  newTokens: number;
  sessions: number;
  point: SweepPoint;
}

/** A prefill paused after `layer`, edited, resumed: from the held state, by recompute, or offloaded. */
export interface BreakpointStep {
  op: 'breakpoint';
  baseline: 'resume' | 'recompute' | 'offload';
  load: LoadPlan;
  prompt: PromptPlan;
  layer: number;
  edit: EditPlan | null;
  point: SweepPoint;
}

/** Greedy decoding with the output of `layer` edited at every step, against the unedited run. */
export interface SteerStep {
  op: 'steer';
  load: LoadPlan;
  prompt: PromptPlan;
  newTokens: number;
  layer: number;
  edit: EditPlan;
  point: SweepPoint;
}

export type Step = CopyStep | ReferenceStep | StreamStep | DecodeStep | BreakpointStep | SteerStep;

export interface ExperimentPlan {
  name: string;
  measure: Measure;
  /** "cpu" or "cuda:N". */
  device: string;
  /** The experiment's model as written ("synthetic:llama-7b", a directory); null for copy_bandwidth. */
  model: string | null;
  /** Measured runs per step (one row each), after `warmup` runs that are not recorded. */
  repeat: number;
  warmup: number;
  /** Stop (as on Ctrl-C, keeping the rows so far) after this long; null: no limit. */
  timeLimitMs: number | null;
  /** The metric columns the rows keep (the step's parameters are always kept). */
  metrics: string[];
  /** streaming: pinned and pageable copy bandwidth probed in the same run with this many bytes. */
  probeBytes: number | null;
  /** Relative L2 error of the logits under which a correctness check passes. */
  tolerance: number;
  steps: Step[];
}

export interface Plan {
  /** The .vlab file the plan was compiled from ("" for a plan built in code). */
  file: string;
  experiments: ExperimentPlan[];
}

/** The baselines each measure compares (in the order a .vlab file lists them by default). */
export const BASELINES: Readonly<Record<Measure, readonly string[]>> = {
  copy_bandwidth: ['pinned', 'pageable'],
  streaming: ['resident', 'stream', 'stream-sync', 'accelerate', 'auto'],
  decode: ['kv-cache', 'stateless'],
  breakpoints: ['resume', 'recompute', 'offload'],
  steering: [],
};

/** The metric columns of each measure's rows (a .vlab file may keep fewer with `metrics`). */
export const METRICS: Readonly<Record<Measure, readonly string[]>> = {
  copy_bandwidth: ['bandwidth_gbps'],
  streaming: [
    'effective_bandwidth_gbps',
    'decode_bandwidth_gbps',
    'latency_ms',
    'prefill_ms',
    'decode_ms_per_token',
    'bytes_streamed',
    'resident_layers',
    'peak_vram_gb',
    'logit_rel_err',
    'logit_match',
  ],
  decode: ['per_token_ms', 'prefill_ms', 'total_ms', 'tokens_generated', 'h2d_bytes_per_token', 'peak_vram_gb', 'token_match'],
  breakpoints: ['resume_ms', 'to_logits_ms', 'pause_ms', 'bytes_moved', 'logit_rel_err', 'token_match'],
  steering: ['output_change', 'top1_changed', 'token_agreement', 'per_token_ms', 'logit_rel_err'],
};
