// runtime.ts: the typed API over the native library: a Runtime (one device, one VRAM budget) loads
// Models (a HuggingFace directory or a synthetic shape); a Model makes Sessions (one sequence each,
// with its own KV block table); sessions run prefill, decode and greedy generation.
//
//   const rt = await Runtime.open({ device: 'cpu', budget: '512MB' });
//   const model = await rt.loadModel('test/fixtures/tiny-llama-gqa');
//   const s = model.createSession();
//   const logits = await s.forward([3, 17, 42], { logits: 'all' });
//   const tokens = await s.generate([3, 17, 42], 8);
//   const p = await s.forward([5], { breakpoints: [2] });   // a Paused (see breakpoint.ts)
//   rt.dispose();   // disposes its models and their sessions
import { existsSync, statSync } from 'node:fs';
import { type BreakpointStats, type Breakpoints, checkScale, checkVector, Paused, type Steer, type StepDriver } from './breakpoint.js';
import { VramlabError } from './errors.js';
import { type Handle, native, type NativeBreakpointStats, type NativeModelConfig } from './native.js';
import { Scheduler, type SchedulerOptions } from './scheduler.js';
import { type DType, type ModelShape, parseSyntheticSpec, type SyntheticSpec } from './synthetic.js';
import { parseSize } from './units.js';

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
}

/** One paging record: what moved for which session (Session.id), and the rule that chose it. */
export interface PagingEvent {
  seq: number;
  /** Host milliseconds since the model was loaded. */
  tMs: number;
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

const KINDS: PagingEvent['kind'][] = ['out', 'in', 'drop', 'run'];
const REASONS: PagingEvent['reason'][] = ['step', 'lru', 'next-use', 'prefetch', 'explicit', 'offload'];
const COPY_DIRECTIONS = { h2d: 0, d2h: 1, both: 2, d2d: 3 } as const;

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
  /** KV pool capacity in tokens over all sessions (default: max_position_embeddings, at most 4096). */
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

export interface LayerTiming {
  layer: number;
  /** Milliseconds from the start of the pass's device work; null for a layer with no copy. */
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
   * Device time from the call's first work to its last logits on the host, a paused step's pauses
   * included; null when another step ran on the model while this one was paused.
   */
  deviceMs: number | null;
  /** The last pass, per layer; empty when it was replayed from a graph. */
  timeline: LayerTiming[];
}

export type LogitsSelection = 'none' | 'last' | 'all';

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

const DTYPES: DType[] = ['f32', 'f16', 'bf16'];

function stateError(what: string): VramlabError {
  return new VramlabError('VL_ERR_STATE', what);
}

function positiveInt(v: number | undefined, name: string, max = 2 ** 31 - 1): number {
  if (v === undefined) return 0;
  return checkedInt(v, name, 1, max);
}

/** A whole number in [min, max] (the C ABI narrows it: checked before it crosses). */
function checkedInt(v: number, name: string, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `${name} must be a whole number from ${min} to ${max}, got ${v}`);
  return v;
}

/** Logits rows (positions) by vocabulary, float32, row-major. */
export class Logits {
  constructor(
    readonly rows: number,
    readonly vocab: number,
    readonly data: Float32Array,
  ) {}

  row(i: number): Float32Array {
    if (!Number.isInteger(i) || i < 0 || i >= this.rows) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `row ${i} is outside 0..${this.rows - 1}`);
    return this.data.subarray(i * this.vocab, (i + 1) * this.vocab);
  }

  /** The index of the first maximum of a row (torch.argmax), by default the last. */
  argmax(i = this.rows - 1): number {
    const r = this.row(i);
    let best = 0;
    for (let j = 1; j < r.length; j++) if ((r[j] as number) > (r[best] as number)) best = j;
    return best;
  }

  toArrays(): number[][] {
    return Array.from({ length: this.rows }, (_, i) => Array.from(this.row(i)));
  }
}

function toIds(ids: ArrayLike<number>, vocab: number): Int32Array {
  if (ids.length === 0) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', 'no token ids given');
  const out = new Int32Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const v = ids[i] as number;
    if (!Number.isInteger(v) || v < 0 || v >= vocab)
      throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `token id ${v} at position ${i} is outside the vocabulary (0..${vocab - 1})`);
    out[i] = v;
  }
  return out;
}

/** A step with breakpoints in progress: what its segments share. */
interface StepRun {
  tokens: number;
  rows: number;
  out: Float32Array | null;    // the logits, filled when the step finishes
  stops: ReadonlySet<number>;  // the caller's breakpoints: return a Paused there
  steer: readonly Steer[];
}

export class Session {
  #handle: Handle | null;
  #busy = false;
  #paused: Paused | null = null;

  /** @internal use Model.createSession */
  constructor(
    readonly model: Model,
    handle: Handle,
  ) {
    this.#handle = handle;
  }

  get disposed(): boolean {
    return this.#handle === null;
  }

  /** Tokens held in the session's KV cache. */
  get tokens(): number {
    this.#idle('read the tokens of');
    return native.sessionInfo(this.#live()).n_tokens;
  }

  /** KV blocks the session holds, on the device or paged out. */
  get blocks(): number {
    this.#idle('read the blocks of');
    return native.sessionInfo(this.#live()).n_blocks;
  }

  /** The model's n-th session (from 0): how the paging records (Model.pagingEvents) name it. */
  get id(): number {
    this.#idle('read the id of');
    return native.sessionInfo(this.#live()).id;
  }

  /** Where its KV blocks are: on the device, paged out to host memory, dropped (recompute). */
  residency(): Residency {
    this.#idle('read the residency of');
    const i = native.sessionInfo(this.#live());
    return { blocks: i.n_blocks, deviceBlocks: i.device_blocks, hostBlocks: i.host_blocks, droppedTokens: i.dropped_tokens, quota: i.quota, inBytes: i.in_bytes, outBytes: i.out_bytes };
  }

  /**
   * Pages every device block of the session out to pinned host memory: the copies run on the device's
   * offload stream, and the blocks are free for other sessions at once. The next step (or pageIn)
   * brings them back. A paused session can be paged out too.
   */
  pageOut(): void {
    this.#idle('page out');
    native.sessionPageOut(this.#live());
  }

  /** Brings every paged-out block back to the device (making room as the model's policy says); resolves once they are there. */
  async pageIn(): Promise<void> {
    await this.#run(() => native.sessionPageIn(this.#live()));
  }

  /**
   * When the session runs next, for the next-use policy: smaller = sooner (a turn index or an expected
   * start time in ms, one scale per model); null: unknown (paged out first).
   */
  nextUse(key: number | null): void {
    this.#idle('set the next use of');
    if (key !== null && !(Number.isFinite(key) && key >= 0)) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `the next-use key must be a number >= 0 or null, got ${key}`);
    native.sessionSetNextUse(this.#live(), key ?? -1);
  }

  /** At most this many KV blocks on the device for the session (a step that needs more fails); 0: no limit. */
  setQuota(maxDeviceBlocks: number): void {
    this.#idle('set the quota of');
    native.sessionSetQuota(this.#live(), checkedInt(maxDeviceBlocks, 'the quota', 0, 2 ** 31 - 1));
  }

  /**
   * Appends ids and runs them; returns the logits asked for (default: the last position), null for
   * logits 'none'. With `breakpoints` the step pauses after the first of them and returns a Paused
   * (Logits when none is left); with `steer` the layers' outputs are edited on the way. A step with
   * breakpoints, steer or offload returns Logits of 0 rows for logits 'none'.
   */
  forward(ids: ArrayLike<number>, options: ForwardOptions & { breakpoints: Breakpoints }): Promise<Logits | Paused>;
  forward(ids: ArrayLike<number>, options: ForwardOptions & { steer: readonly Steer[]; breakpoints?: undefined }): Promise<Logits>;
  forward(ids: ArrayLike<number>, options?: { logits?: LogitsSelection }): Promise<Logits | null>;
  forward(ids: ArrayLike<number>, options?: ForwardOptions): Promise<Logits | Paused | null>;
  async forward(ids: ArrayLike<number>, options: ForwardOptions = {}): Promise<Logits | Paused | null> {
    const sel = options.logits ?? 'last';
    const vocab = this.model.shape.vocabSize;
    const input = toIds(ids, vocab);
    const rows = sel === 'none' ? 0 : sel === 'last' ? 1 : input.length;
    const out = rows > 0 ? new Float32Array(rows * vocab) : null;
    if (options.breakpoints === undefined && options.steer === undefined && options.offload === undefined) {
      await this.#run(() => native.sessionForward(this.#live(), input, rows, out));
      return out ? new Logits(rows, vocab, out) : null;
    }
    const L = this.model.shape.numLayers;
    const stops = options.breakpoints === 'all' ? Array.from({ length: L }, (_, l) => l) : [...(options.breakpoints ?? [])];
    for (const b of stops)
      if (!Number.isInteger(b) || b < 0 || b >= L) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `breakpoint layer ${b} is outside the model's layers (0..${L - 1})`);
    const steer = (options.steer ?? []).map((e, i) => this.#checkSteer(e, i));
    const step: StepRun = { tokens: input.length, rows, out, stops: new Set(stops), steer };
    const layers = Int32Array.from(new Set([...stops, ...steer.map((e) => e.layer)]));
    return this.#run(async () => {
      const layer = await native.sessionForwardBreakpoints(this.#live(), input, rows, out, layers, options.offload ?? false);
      return this.#continue(step, layer);
    });
  }

  /** One decode step: appends one token, returns the logits of it. */
  async decode(id: number): Promise<Logits> {
    return (await this.forward([id], { logits: 'last' })) as Logits;
  }

  /**
   * Greedy generation: runs ids, then returns maxNewTokens new tokens (argmax each step). On an error
   * the session is left as before the call.
   */
  async generate(ids: ArrayLike<number>, maxNewTokens: number): Promise<number[]> {
    if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0)
      throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `maxNewTokens must be a non-negative integer, got ${maxNewTokens}`);
    const input = toIds(ids, this.model.shape.vocabSize);
    const out = new Int32Array(maxNewTokens);
    await this.#run(() => native.sessionGenerate(this.#live(), input, maxNewTokens, out));
    return Array.from(out);
  }

  /** What the last forward or generate call did: bytes copied, time, the per-layer timeline. */
  lastStep(): StepStats {
    this.#idle('read the last step of');
    const h = this.#live();
    const st = native.sessionLastStep(h);
    const timeline = native.sessionTimeline(h, this.model.shape.numLayers).map((t, layer) => ({
      layer,
      copyStartMs: t.copy_start_ms < 0 ? null : t.copy_start_ms,
      copyEndMs: t.copy_end_ms < 0 ? null : t.copy_end_ms,
      computeStartMs: t.compute_start_ms,
      computeEndMs: t.compute_end_ms,
    }));
    return { tokens: st.tokens, passes: st.steps, h2dBytes: st.h2d_bytes, wallMs: st.wall_ms, deviceMs: st.device_ms < 0 ? null : st.device_ms, timeline };
  }

  /** The paused step, if the session is paused at a breakpoint. */
  get paused(): Paused | null {
    return this.#paused;
  }

  /** Drops the session's tokens and gives its KV blocks back to the pool. */
  reset(): void {
    this.#idle('reset');
    native.sessionReset(this.#live());
  }

  /** Frees the session (a paused step is dropped). */
  dispose(): void {
    if (this.#handle === null) return;
    this.#idle('dispose');
    this.model._forgetWork(this);
    native.sessionFree(this.#handle);
    this.#handle = null;
    this.#paused?._end('the session was disposed');
    this.#paused = null;
    this.model._forget(this);
  }

  /** @internal the live handle (the scheduler's). */
  _handle(): Handle {
    return this.#live();
  }

  #live(): Handle {
    if (this.#handle === null) throw stateError('the session was disposed');
    return this.#handle;
  }

  #idle(what: string): void {
    if (this.#busy) throw stateError(`cannot ${what} the session while a step is running: await it first`);
  }

  async #run<T>(call: () => Promise<T>): Promise<T> {
    this.#live();
    if (this.#busy) throw stateError('the session is already running a step: await it before starting another');
    this.#busy = true;
    try {
      return await call();
    } finally {
      this.#busy = false;
    }
  }

  #checkSteer(e: Steer, i: number): Steer {
    const L = this.model.shape.numLayers;
    if (!Number.isInteger(e.layer) || e.layer < 0 || e.layer >= L) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `steer layer ${e.layer} is outside the model's layers (0..${L - 1})`);
    const scale = e.scale === undefined ? undefined : checkScale(e.scale, `steer ${i} (layer ${e.layer}): scale`);
    const add = e.add === undefined ? undefined : checkVector(e.add, this.model.shape.hiddenSize, `steer ${i} (layer ${e.layer}): add`);
    return { layer: e.layer, scale, add };
  }

  /**
   * After a segment of a step with breakpoints: the logits when it finished (layer -1); else the
   * steer edits of the layer it paused after, then a Paused for the caller's breakpoints, or on to the
   * next segment. An error while steering drops the step (the session is then as before it).
   */
  async #continue(step: StepRun, layer: number): Promise<Logits | Paused> {
    const h = this.#live();
    try {
      while (layer >= 0) {
        for (const e of step.steer) if (e.layer === layer) native.sessionActivationEdit(h, e.scale ?? 1, e.add ?? null);
        if (step.stops.has(layer)) {
          this.#paused = new Paused(this.#driver(step), layer, step.tokens, this.model.shape.hiddenSize);
          return this.#paused;
        }
        layer = await native.sessionResume(h, step.out);
      }
    } catch (e) {
      if (native.sessionBreakpointStats(h).layer >= 0) native.sessionAbort(h);
      throw e;
    }
    return new Logits(step.rows, this.model.shape.vocabSize, step.out ?? new Float32Array(0));
  }

  /** How a Paused of `step` drives this session. */
  #driver(step: StepRun): StepDriver {
    const stillPaused = (layer: number) => this.#handle !== null && native.sessionBreakpointStats(this.#handle).layer === layer;
    return {
      readActivation: (out) => native.sessionActivationGet(this.#live(), out),
      writeActivation: (values) => native.sessionActivationSet(this.#live(), values),
      edit: (scale, vec) => native.sessionActivationEdit(this.#live(), scale, vec),
      resume: () =>
        this.#run(async () => {
          const from = this.#paused?.layer ?? -1;
          let layer: number;
          try {
            layer = await native.sessionResume(this.#live(), step.out);
          } catch (e) {
            if (!stillPaused(from)) this.#paused = null;
            throw e;
          }
          this.#paused = null;
          return this.#continue(step, layer);
        }),
      abort: () => {
        this.#idle('abort the paused step of');
        native.sessionAbort(this.#live());
        this.#paused = null;
      },
      stats: () => breakpointStats(native.sessionBreakpointStats(this.#live())),
      stillPaused,
    };
  }
}

function breakpointStats(b: NativeBreakpointStats): BreakpointStats {
  return {
    layer: b.layer < 0 ? null : b.layer,
    tokens: b.tokens,
    hidden: b.hidden,
    offloaded: b.offloaded !== 0,
    pauses: b.pauses,
    pauseMs: b.pause_ms,
    restoreMs: b.restore_ms,
    toLogitsMs: b.to_logits_ms,
    gapMs: b.gap_ms < 0 ? null : b.gap_ms,
    d2hBytes: b.d2h_bytes,
    h2dBytes: b.h2d_bytes,
    bytesMoved: b.d2h_bytes + b.h2d_bytes,
  };
}

export class Model {
  #handle: Handle | null;
  readonly #sessions = new Set<Session>();
  readonly name: string;
  readonly shape: ModelShape;

  /** @internal use Runtime.loadModel */
  constructor(
    readonly runtime: Runtime,
    handle: Handle,
    name: string,
  ) {
    this.#handle = handle;
    this.name = name;
    const c = native.modelInfo(handle).config;
    this.shape = {
      vocabSize: c.vocab_size,
      hiddenSize: c.hidden_size,
      intermediateSize: c.intermediate_size,
      numLayers: c.num_layers,
      numHeads: c.num_heads,
      numKvHeads: c.num_kv_heads,
      headDim: c.head_dim,
      maxPositionEmbeddings: c.max_position_embeddings,
      tieWordEmbeddings: c.tie_word_embeddings !== 0,
      dtype: DTYPES[c.dtype] ?? 'f16',
      rmsNormEps: c.rms_norm_eps,
      ropeTheta: c.rope_theta,
    };
  }

  get disposed(): boolean {
    return this.#handle === null;
  }

  info(): ModelInfo {
    const i = native.modelInfo(this.#live());
    return {
      name: this.name,
      shape: this.shape,
      weightBytes: i.weight_bytes,
      kvPoolBytes: i.kv_pool_bytes,
      kvBlockTokens: i.kv_block_tokens,
      kvPoolBlocks: i.kv_pool_blocks,
      kvFreeBlocks: i.kv_free_blocks,
      placement: PLACEMENTS[i.placement] ?? 'resident',
      residentLayers: i.resident_layers,
      prefetch: i.prefetch,
      residentBytes: i.resident_bytes,
      hostBytes: i.host_bytes,
      ringBytes: i.ring_bytes,
      layerBytes: i.layer_bytes,
      kvBlockBytes: i.kv_block_bytes,
      paging: PAGING_POLICIES[i.paging] ?? 'lru',
      kvHostBlocks: i.kv_host_blocks,
      sessions: i.sessions,
      maxStepTokens: i.max_step_tokens,
    };
  }

  /** Changes how the KV pager makes room (takes effect at the next step). */
  setPaging(policy: PagingPolicy): void {
    const p = PAGING_POLICIES.indexOf(policy);
    if (p < 0) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `unknown paging policy "${String(policy)}" (use ${PAGING_POLICIES.join(', ')})`);
    native.modelSetPaging(this.#live(), p);
  }

  /** The next-use keys of an upcoming order of turns: sessions[i] runs i-th (for the next-use policy). */
  planTurns(sessions: readonly Session[]): void {
    sessions.forEach((s, i) => s.nextUse(i));
  }

  pagingStats(): PagingStats {
    const p = native.modelPagingStats(this.#live());
    return {
      outBytes: p.out_bytes,
      inBytes: p.in_bytes,
      outBlocks: p.out_blocks,
      inBlocks: p.in_blocks,
      evictions: p.evictions,
      droppedBlocks: p.dropped_blocks,
      recomputedTokens: p.recomputed_tokens,
      prefetchedBlocks: p.prefetched_blocks,
      outMs: p.out_ms,
      inMs: p.in_ms,
      stallMs: p.stall_ms,
    };
  }

  /** The pager's records from the `from`-th on (0: all), in order: every decision it made. */
  pagingEvents(from = 0): PagingEvent[] {
    const h = this.#live();
    const out: PagingEvent[] = [];
    for (let first = from; ; ) {
      const { events, total } = native.modelPagingEvents(h, first, 4096);
      for (const e of events)
        out.push({
          seq: e.seq,
          tMs: e.t_ms,
          session: e.session,
          kind: KINDS[e.kind] ?? 'run',
          reason: REASONS[e.reason] ?? 'step',
          blocks: e.blocks,
          bytes: e.bytes,
          key: e.key,
          deviceBlocks: e.device_blocks,
          hostBlocks: e.host_blocks,
          poolUsed: e.pool_used,
          hostUsed: e.host_used,
        });
      first += events.length;
      if (events.length === 0 || first >= total) return out;
    }
  }

  createSession(): Session {
    const s = new Session(this, native.sessionCreate(this.#live()));
    this.#sessions.add(s);
    return s;
  }

  #scheduler: Scheduler | null = null;

  /**
   * The model's scheduler, which decodes its sessions together in batched steps (created on first
   * use; options change its prefill chunk and batch size).
   */
  scheduler(options?: SchedulerOptions): Scheduler {
    this.#live();
    this.#scheduler ??= new Scheduler(() => this.#live(), () => this.runtime._handle(), this.shape.vocabSize);
    if (options) this.#scheduler.configure(options);
    return this.#scheduler;
  }

  /**
   * One batched forward by hand (node-llama-cpp's decodeBatch): each session appends its ids, all of
   * them in one step (one read of the weights); each gets its last position's logits, or the error
   * that left it out of the step (out of memory, paused at a breakpoint), its session as before.
   */
  async forwardBatch(items: readonly { session: Session; ids: ArrayLike<number> }[]): Promise<({ logits: Logits; error: null } | { logits: null; error: VramlabError })[]> {
    const h = this.#live();
    if (items.length === 0) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', 'a batch needs at least one session');
    const vocab = this.shape.vocabSize;
    const parts = items.map((it) => toIds(it.ids, vocab));
    const ids = new Int32Array(parts.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of parts) ids.set(p, (at += p.length) - p.length);
    const counts = Int32Array.from(parts, (p) => p.length);
    const logits = new Float32Array(items.length * vocab);
    const statuses = new Int32Array(items.length);
    const handles = items.map((it) => it.session._handle());
    await native.modelForwardBatch(h, this.runtime._handle(), handles, counts, ids, logits, statuses);
    return items.map((_, i) =>
      statuses[i] === 0
        ? { logits: new Logits(1, vocab, logits.subarray(i * vocab, (i + 1) * vocab)), error: null }
        : { logits: null, error: native.workError(statuses[i] as number, native.sessionError(handles[i] as Handle)) },
    );
  }

  /**
   * Loads the resident weights onto the device again, from a pinned host copy of them made at the first
   * call: what a serverless system pays at every step, at best (it reloads from disk). Resolves with the
   * copy's device time and bytes. Not while a step runs.
   */
  async reload(): Promise<{ ms: number; bytes: number }> {
    return native.modelReload(this.#live(), this.runtime._handle());
  }

  /** @internal a session of it is being disposed: its scheduled work ends first. */
  _forgetWork(s: Session): void {
    this.#scheduler?._forget(s);
  }

  /** Disposes the model's sessions, then the model. */
  dispose(): void {
    if (this.#handle === null) return;
    for (const s of [...this.#sessions]) s.dispose();
    native.modelFree(this.#handle);
    this.#handle = null;
    this.runtime._forget(this);
  }

  /** @internal */
  _forget(s: Session): void {
    this.#sessions.delete(s);
  }

  #live(): Handle {
    if (this.#handle === null) throw stateError(`the model ${this.name} was disposed`);
    return this.#handle;
  }
}

function nativeConfig(s: ModelShape): NativeModelConfig {
  return {
    vocab_size: s.vocabSize,
    hidden_size: s.hiddenSize,
    intermediate_size: s.intermediateSize,
    num_layers: s.numLayers,
    num_heads: s.numHeads,
    num_kv_heads: s.numKvHeads,
    head_dim: s.headDim,
    max_position_embeddings: s.maxPositionEmbeddings,
    tie_word_embeddings: s.tieWordEmbeddings ? 1 : 0,
    dtype: DTYPES.indexOf(s.dtype),
    rms_norm_eps: s.rmsNormEps,
    rope_theta: s.ropeTheta,
  };
}

export class Runtime {
  #handle: Handle | null;
  readonly #models = new Set<Model>();
  #loading = 0;
  readonly device: string;

  private constructor(handle: Handle, device: string) {
    this.#handle = handle;
    this.device = device;
  }

  static async open(options: RuntimeOptions = {}): Promise<Runtime> {
    const device = options.device ?? 'cpu';
    const budget = options.budget === undefined ? 0 : parseSize(options.budget);
    if (options.budget !== undefined && budget === 0) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', 'the VRAM budget must be larger than 0');
    const hostBudget = options.hostBudget === undefined ? 0 : parseSize(options.hostBudget);
    if (options.hostBudget !== undefined && hostBudget === 0) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', 'the host budget must be larger than 0');
    return new Runtime(native.runtimeOpen(device, { budget, host_budget: hostBudget }), device);
  }

  get disposed(): boolean {
    return this.#handle === null;
  }

  /** The device's name, e.g. "NVIDIA H100 80GB HBM3 (driver ...)" or "cpu (2 threads)". */
  deviceName(): string {
    return native.runtimeDeviceName(this.#live());
  }

  memory(): MemoryInfo {
    const m = native.runtimeMemory(this.#live());
    return {
      budget: m.budget,
      current: m.current,
      peak: m.peak,
      deviceTotal: m.device_total,
      deviceFree: m.device_free,
      hostBudget: m.host_budget,
      hostCurrent: m.host_current,
      hostPeak: m.host_peak,
    };
  }

  /**
   * Copy bandwidth in GB/s: `bytes` (default 1 GiB) between the device and pinned or pageable host
   * memory, host to device (default), device to host, or both at once (the bytes of both directions
   * over the time of the pair); or device to device (bytes read plus written: the memory's bandwidth).
   */
  async copyBandwidth(options: { bytes?: number | string; pinned?: boolean; reps?: number; direction?: 'h2d' | 'd2h' | 'both' | 'd2d' } = {}): Promise<number> {
    const bytes = parseSize(options.bytes ?? 2 ** 30);
    const direction = COPY_DIRECTIONS[options.direction ?? 'h2d'];
    if (direction === undefined) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `unknown copy direction "${String(options.direction)}" (h2d, d2h or both)`);
    const reps = checkedInt(options.reps ?? 5, 'reps', 1, 100000);
    return native.runtimeCopyBandwidth(this.#live(), bytes, options.pinned ?? true, reps, direction);
  }

  /**
   * Loads a model: a HuggingFace Llama directory, "synthetic:<spec>" (see synthetic.ts) or a parsed
   * SyntheticSpec.
   */
  async loadModel(source: string | SyntheticSpec, options: ModelOptions = {}): Promise<Model> {
    const rt = this.#live();
    const placement = options.placement ?? 'resident';
    if (!PLACEMENTS.includes(placement))
      throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `unknown placement "${String(placement)}" (use ${PLACEMENTS.join(', ')})`);
    if (options.prefetch !== undefined && (!Number.isInteger(options.prefetch) || options.prefetch < 1))
      throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `prefetch must be a positive number of layers, got ${options.prefetch}`);
    const paging = PAGING_POLICIES.indexOf(options.paging ?? 'lru');
    if (paging < 0) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `unknown paging policy "${String(options.paging)}" (use ${PAGING_POLICIES.join(', ')})`);
    const opts = {
      kv_block_tokens: positiveInt(options.kvBlockTokens, 'kvBlockTokens', 1 << 20),
      placement: PLACEMENTS.indexOf(placement),
      kv_pool_tokens: positiveInt(options.kvPoolTokens, 'kvPoolTokens', 2 ** 31 - 1),
      prefetch: options.prefetch ?? 0,
      paging,
      ring_bytes: options.ring === undefined ? 0 : parseSize(options.ring),
    };
    if (options.ring !== undefined && opts.ring_bytes === 0) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', 'the ring must be larger than 0');
    let handle: Handle;
    let name: string;
    this.#loading++; // dispose() must not close the runtime under a load running on a worker thread
    try {
      if (typeof source === 'string' && !source.startsWith('synthetic:')) {
        if (!existsSync(source)) throw new VramlabError('VL_ERR_IO', `${source}: no such model directory`);
        if (!statSync(source).isDirectory()) throw new VramlabError('VL_ERR_IO', `${source}: not a directory (a model is a directory with config.json and safetensors)`);
        handle = await native.modelLoad(rt, source, opts);
        name = source.replace(/\/+$/, '').split('/').pop() ?? source;
      } else {
        const spec = typeof source === 'string' ? parseSyntheticSpec(source.slice('synthetic:'.length)) : source;
        handle = await native.modelSynthetic(rt, nativeConfig(spec.shape), spec.seed, opts);
        name = `synthetic:${spec.name}`;
      }
    } finally {
      this.#loading--;
    }
    const model = new Model(this, handle, name);
    this.#models.add(model);
    return model;
  }

  /** Disposes every model (and session) of the runtime, then the runtime. */
  dispose(): void {
    if (this.#handle === null) return;
    if (this.#loading > 0) throw stateError('cannot dispose the runtime while a model is loading: await the load first');
    for (const m of [...this.#models]) m.dispose();
    native.runtimeClose(this.#handle);
    this.#handle = null;
  }

  /** @internal */
  _forget(m: Model): void {
    this.#models.delete(m);
  }

  /** @internal */
  _handle(): Handle {
    return this.#live();
  }

  #live(): Handle {
    if (this.#handle === null) throw stateError('the runtime was disposed');
    return this.#handle;
  }
}
