// plan.ts: a Plan, what the runner executes: plain data (JSON as it is), every value resolved
// (units to bytes and milliseconds, defaults filled in, sweeps expanded into steps). The .vlab
// compiler writes Plans through lab/build.ts, and so do the benchmarks; anyone may build one by hand.
// Each measure (lab/measures/) defines its own steps: a Step here is what all of them share.
//
//   { "file": "experiments/decode.vlab", "experiments": [ { "name": "decode", "measure": "decode",
//     "device": "cpu", "repeat": 3, "warmup": 1, ..., "steps": [
//       { "op": "decode", "baseline": "kv-cache", "load": {...}, "prompt": {"tokens": 72, "seed": 1}, ... },
//       { "op": "decode", "baseline": "stateless", ... } ] } ] }
import type { ModelOptions, Placement } from '../runtime/types.js';

/** A prompt: `tokens` ids drawn from a seeded generator, or given ids (with the text they came from). */
export type PromptPlan = { tokens: number; seed: number } | { ids: number[]; text?: string };

/** An edit of the activation after a layer: scale it, add a vector at every position, or replace it. */
export interface EditPlan {
  scale?: number;
  /** A seeded random direction of L2 norm `norm`, or the vector itself (hidden size long). */
  add?: AddPlan;
  /** The activation of another prompt (of the same length) at the same layer: activation patching. */
  replace?: PromptPlan;
}

/** A vector added at every position: a seeded random direction of L2 norm `norm`, or the values. */
export type AddPlan = { norm: number; seed: number } | { values: number[] };

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
  /** KV pool capacity in tokens; null: what the budget leaves after the weights, ring and workspace. */
  kvPoolTokens: number | null;
  kvBlockTokens: number;
  /** Pinned host memory for paged-out KV blocks; null or absent: the runtime's default. */
  hostBudget?: number | null;
}

/** The swept values of a step, by setting name, for labels and rows ("ring": 2000000000). */
export type SweepPoint = Record<string, number | string>;

/**
 * One step of an experiment: `op` names what its measure does with it (a measure may have several
 * ops, e.g. streaming's probe, reference and stream), `point` the sweep point it belongs to. The
 * measure's own step types add the rest (baseline, load, prompt, ...).
 */
export interface Step {
  op: string;
  /** The compared method, for measures that have baselines. */
  baseline?: string;
  point: SweepPoint;
  /** The measure's own fields. */
  [field: string]: unknown;
}

export interface ExperimentPlan {
  name: string;
  /** The measure's name (lab/measures/): the module that runs the steps. */
  measure: string;
  /** "cpu" or "cuda:N". */
  device: string;
  /** The experiment's model as written ("synthetic:llama-7b", a directory); null for measures without one. */
  model: string | null;
  /** Measured runs per step (one row each), after `warmup` runs that are not recorded. */
  repeat: number;
  warmup: number;
  /** Stop (as on Ctrl-C, keeping the rows so far) after this long; null: no limit. */
  timeLimitMs: number | null;
  /** The metric columns the rows keep (the step's parameters are always kept). */
  metrics: string[];
  /** Relative L2 error of the logits under which a correctness check passes. */
  tolerance: number;
  steps: Step[];
}

export interface Plan {
  /** The .vlab file the plan was compiled from ("" for a plan built in code). */
  file: string;
  experiments: ExperimentPlan[];
}

/**
 * An experiment as the runner reads it: a plan whose steps may be made as they are read (lab/build.ts
 * buildExperimentSteps), each iteration anew, so that a plan of many sweep points is never held whole.
 */
export interface RunnableExperiment extends Omit<ExperimentPlan, 'steps'> {
  steps: Iterable<Step>;
}

/** A Plan, or one whose experiments make their steps as they are read. */
export interface RunnablePlan {
  file: string;
  experiments: readonly RunnableExperiment[];
}

/** The number of tokens of a prompt. */
export function promptTokens(p: PromptPlan): number {
  return 'tokens' in p ? p.tokens : p.ids.length;
}

/** The model options of a load plan (its runtime options are budget and hostBudget). */
export function modelOptions(load: LoadPlan): ModelOptions {
  return { placement: load.placement, ring: load.ring ?? undefined, prefetch: load.prefetch ?? undefined, kvPoolTokens: load.kvPoolTokens ?? undefined, kvBlockTokens: load.kvBlockTokens };
}
