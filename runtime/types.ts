// types.ts: the plain data of the runtime's API (options, placements, what a step reports), in a module
// with no native library behind it, so that the .vlab language and the lab can name placements and
// read step stats without loading koffi.
import type { DType, ModelShape } from './synthetic.js';

export interface RuntimeOptions {
  /** "cpu" (default) or "cuda:N". */
  device?: string;
  /**
   * The VRAM budget: bytes or a size such as "512MB"; default: the device's memory. With a budget, a
   * model's KV pool takes what its weights, ring and workspace leave of it (unless kvPoolTokens says).
   */
  budget?: number | string;
  /** Pinned host memory the KV pagers may hold (paged-out blocks); default: half the machine's RAM. */
  hostBudget?: number | string;
}

export interface MemoryInfo {
  budget: number;
  current: number;
  peak: number;
  deviceTotal: number;
  deviceFree: number;
  /** Pinned host memory of the KV pagers: their budget, what they hold now and at most. */
  hostBudget: number;
  hostCurrent: number;
  hostPeak: number;
}

/**
 * How a model makes room when a step needs KV blocks the device pool lacks: page out the least recently
 * run sessions (`lru`), those whose next turn is furthest away (`next-use`, prefetching the next one),
 * drop their KV and re-run it when they return (`recompute`), or fail (`none`).
 */
export type PagingPolicy = 'lru' | 'next-use' | 'recompute' | 'none';
export const PAGING_POLICIES: readonly PagingPolicy[] = ['lru', 'next-use', 'recompute', 'none'];

/** What a model's pager has done. Bytes and blocks each way; times in device milliseconds. */
export interface PagingStats {
  outBytes: number;
  inBytes: number;
  outBlocks: number;
  inBlocks: number;
  evictions: number;
  droppedBlocks: number;
  recomputedTokens: number;
  prefetchedBlocks: number;
  /** The copies' own device time, each direction (copies known to be complete). */
  outMs: number;
  inMs: number;
  /** The compute stream waiting for pages. */
  stallMs: number;
  /** Host milliseconds spent pinning the host block store (Model.reserveHost, or growth while paging). */
  hostAllocMs: number;
}

/** One paging record: what moved for which session (Session.id), and the rule that chose it. */
export interface PagingEvent {
  seq: number;
  /** Host milliseconds since the model was loaded. */
  tMs: number;
  /** The same moment on performance.now()'s clock (to line records up with times taken in JavaScript). */
  atMs: number;
  session: number;
  kind: 'out' | 'in' | 'drop' | 'run';
  reason: 'step' | 'lru' | 'next-use' | 'prefetch' | 'explicit' | 'offload';
  blocks: number;
  bytes: number;
  /** The policy's value for the session: its last use (lru), its next-use key; for a run, the tokens. */
  key: number;
  /** The session's blocks on the device and on the host after it. */
  deviceBlocks: number;
  hostBlocks: number;
  /** Device blocks in use and host slots in use, all sessions, after it. */
  poolUsed: number;
  hostUsed: number;
}

/** Where a session's KV blocks are. */
export interface Residency {
  blocks: number;
  deviceBlocks: number;
  hostBlocks: number;
  /** Tokens whose KV was dropped (recompute), re-run at the session's next step. */
  droppedTokens: number;
  /** At most this many device blocks (0: no limit). */
  quota: number;
  inBytes: number;
  outBytes: number;
}

/**
 * Where a model's layers live: `resident` (all in VRAM); `stream` (host memory, through a ring in
 * VRAM, copies prefetched); `stream-sync` (the same ring, no overlap: the ablation); `accelerate`
 * (pageable host memory, synchronous per-tensor copies, as HF Accelerate); `auto` (the first layers
 * resident as the budget allows, the rest streamed).
 */
export type Placement = 'resident' | 'stream' | 'stream-sync' | 'accelerate' | 'auto';
export const PLACEMENTS: readonly Placement[] = ['resident', 'stream', 'stream-sync', 'accelerate', 'auto'];

export interface ModelOptions {
  /** Tokens per KV block (default 16). */
  kvBlockTokens?: number;
  /**
   * KV pool capacity in tokens over all sessions (default: what the runtime's budget leaves after the
   * weights, the ring and a 2048-token step's workspace when the runtime was given a budget; else
   * max_position_embeddings, at most 4096).
   */
  kvPoolTokens?: number;
  /** Layer placement (default resident). */
  placement?: Placement;
  /** The ring's capacity for streamed layers: bytes or a size such as "2GiB" (default: two layers). */
  ring?: number | string;
  /** Streamed layers copied ahead of the one computing (default 1). */
  prefetch?: number;
  /** How the KV pager makes room (default lru). */
  paging?: PagingPolicy;
}

/** Runtime.loadModel's options: the model's, and what to call as the weights are placed. */
export interface LoadOptions extends ModelOptions {
  /**
   * Called about every 100 ms while the load runs, with the weight bytes placed so far (read or
   * generated, and copied where they live) and in all: done <= total, never decreasing; and once more,
   * with done === total, when the load has succeeded. Not called where the load fails.
   */
  onProgress?: (done: number, total: number) => void;
}

export interface ModelInfo {
  name: string;
  shape: ModelShape;
  weightBytes: number;
  kvPoolBytes: number;
  kvBlockTokens: number;
  kvPoolBlocks: number;
  kvFreeBlocks: number;
  placement: Placement;
  /** Layers [0, residentLayers) are in VRAM, the rest streamed. */
  residentLayers: number;
  prefetch: number;
  residentBytes: number;
  hostBytes: number;
  ringBytes: number;
  layerBytes: number;
  /** One KV block (every layer of block tokens positions). */
  kvBlockBytes: number;
  paging: PagingPolicy;
  /** KV blocks paged out to host memory now, all sessions. */
  kvHostBlocks: number;
  sessions: number;
  /** Steps up to this many tokens always find their workspace. */
  maxStepTokens: number;
}

/** A device to plan for (Runtime.describeModelFor): its name (cpu, cuda:N), its memory, the VRAM budget under it. */
export interface PlanTargetOptions {
  device: string;
  /** The device's memory, e.g. '80GB' or bytes: all free (a real device reports a little less). */
  memory: string | number;
  /** Default: the device's memory. */
  budget?: string | number;
}

/**
 * A model as a load would place it on a runtime now, decided without loading it (Runtime.describeModel,
 * `vramlab info`): the native planner's own numbers. Bytes are the loader's (each tensor 256-byte aligned).
 */
export interface ModelDescription {
  name: string;
  shape: ModelShape;
  /** Weight elements, every tensor. */
  parameters: number;
  weights: { dtype: DType; bytesPerElement: number; bytes: number; layerBytes: number };
  /** The KV cache on this device: its dtype, one position of every layer, the pool a load makes. */
  kv: { dtype: DType; bytesPerElement: number; bytesPerToken: number; blockTokens: number; blockBytes: number; poolBlocks: number; poolTokens: number; poolBytes: number };
  placement: { placement: Placement; residentLayers: number; streamedLayers: number; residentBytes: number; hostBytes: number; ringBytes: number; prefetch: number };
  /**
   * The VRAM budget: `need` is what the load allocates (resident weights, ring, KV pool), `free` what the
   * budget has free now, `short` how much more it needs (0 when it fits); a step of up to maxStepTokens
   * tokens then allocates workspaceBytes of activations (in activationDtype); fitKvPoolTokens is the
   * largest KV pool (whole blocks) with which the rest and a 512-token step's activations fit what is
   * free (0: none).
   */
  vram: { budget: number; free: number; need: number; fits: boolean; short: number; workspaceBytes: number; maxStepTokens: number; activationDtype: DType; fitKvPoolTokens: number };
}

export interface LayerTiming {
  layer: number;
  /**
   * Milliseconds from the start of the pass's device work (a paused pass: on the clock of deviceMs, the
   * waits for its resumes left out); null for a layer with no copy.
   */
  copyStartMs: number | null;
  copyEndMs: number | null;
  computeStartMs: number;
  computeEndMs: number;
}

/** What the last forward (or whole generate) call did. */
export interface StepStats {
  tokens: number;
  /** Forward passes run (a generate call runs several). */
  passes: number;
  /** Weight bytes copied host -> device. */
  h2dBytes: number;
  wallMs: number;
  /**
   * Device time from the call's first work to its last logits on the host; for a paused step, the device
   * time of its segments (each up to its pause's save, or to the logits), the waits for a resume left
   * out; null before any step.
   */
  deviceMs: number | null;
  /** The last pass, per layer; empty when it was replayed from a graph. */
  timeline: LayerTiming[];
}

export type LogitsSelection = 'none' | 'last' | 'all';

/** Layers to pause after (0-based, any order), or every layer. */
export type Breakpoints = readonly number[] | 'all';

/** An edit of the output of decoder layer `layer` at every position: x * scale + add. */
export interface Steer {
  layer: number;
  /** Default 1. */
  scale?: number;
  /** A vector of the hidden size added to every position (after the scale). */
  add?: Float32Array;
}

export interface ForwardOptions {
  /** Which positions' logits to return (default the last). */
  logits?: LogitsSelection;
  /** Layers to pause after: the step returns a Paused at the first of them (see breakpoint.ts). */
  breakpoints?: Breakpoints;
  /** Each pause moves the step's state (residual, KV of the layers run) to host memory until the resume. */
  offload?: boolean;
  /** Edits of layer outputs, applied through breakpoints that resume by themselves. */
  steer?: readonly Steer[];
}

/**
 * What a step's breakpoints cost. A pause returns before the device has reached it (a resume right
 * away then keeps the device busy); reading these waits until it has, so that the device times are
 * known.
 */
export interface BreakpointStats {
  /** The step is paused after this layer; null when it is not (it finished or was aborted). */
  layer: number | null;
  /** The step's positions and the hidden size: the activation is tokens x hidden. */
  tokens: number;
  hidden: number;
  /** True while the paused state is in host memory (the forward option `offload`). */
  offloaded: boolean;
  pauses: number;
  /** The last pause: the breakpoint layer done -> the paused state saved (device time). */
  pauseMs: number;
  /**
   * The last resume's own cost: host time from the call to its device work enqueued, plus the device
   * time of restoring the residual, KV and metadata and applying the edit.
   */
  restoreMs: number;
  /** The resume that finished the step: call -> logits on the host. */
  toLogitsMs: number;
  /**
   * The last resume: the breakpoint layer done -> the state restored and the next layer ready to run, in
   * device time: what the pause and resume added between two layers (saving and restoring the state,
   * and any time the device waited for the host). null before any resume, or when another step ran on
   * the model while this one was paused.
   */
  gapMs: number | null;
  /** Activation and KV bytes moved device -> host and host -> device (weights not counted). */
  d2hBytes: number;
  h2dBytes: number;
  bytesMoved: number;
}
