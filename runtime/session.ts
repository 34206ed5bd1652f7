// session.ts: a Session, one sequence with its own KV block table on a model's weights: prefill,
// decode, generation (greedy, or sampled: generation.ts), and steps that pause at breakpoints (a
// Paused, breakpoint.ts) or steer layer outputs on the way. A Model makes sessions (runtime.ts) and
// disposes them with itself.
//
//   const s = model.createSession();
//   const logits = await s.forward([3, 17, 42], { logits: 'all' });
//   const p = await s.forward([5], { breakpoints: [2] });   // a Paused
//   s.dispose();
import { invalid, listOf, oneOf, optionsOf, tokenIds } from './args.js';
import { checkScale, checkVector, Paused, type StepDriver } from './breakpoint.js';
import { shown, VramlabError } from './errors.js';
import { checkGenerateOptions, type GenerateOptions, sampler } from './generation.js';
import { Logits } from './logits.js';
import { type Handle, native, type NativeBreakpointStats } from './native.js';
import { residency } from './paging.js';
import type { ModelShape } from './synthetic.js';
import type { BreakpointStats, Breakpoints, ForwardOptions, LogitsSelection, Residency, Steer, StepStats } from './types.js';

/**
 * The model a session runs on, as the session sees it: Model (runtime.ts) is one. An interface, so
 * that this file needs nothing from runtime.ts, which makes sessions.
 */
export interface SessionModel {
  readonly name: string;
  readonly shape: ModelShape;
  /** True once the model was disposed (with its sessions). */
  readonly disposed: boolean;
  /** @internal the session was disposed: the model stops tracking it. */
  _forget(s: Session): void;
  /** @internal the session is being disposed: its scheduled work ends first. */
  _forgetWork(s: Session): void;
}

/** @internal */
export function stateError(what: string): VramlabError {
  return new VramlabError('VL_ERR_STATE', what);
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
    readonly model: SessionModel,
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
    return residency(native.sessionInfo(this.#live()));
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
   * start time in ms, one scale per model); null: unknown (paged out first). Allowed while the session
   * runs or has work scheduled.
   */
  nextUse(key: number | null): void {
    if (key !== null && !(Number.isFinite(key) && key >= 0)) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `the next-use key must be a number >= 0 or null, got ${key}`);
    native.sessionSetNextUse(this.#live(), key ?? -1);
  }

  /** At most this many KV blocks on the device for the session (a step that needs more fails); 0: no limit. Allowed while it runs. */
  setQuota(maxDeviceBlocks: number): void {
    if (!Number.isInteger(maxDeviceBlocks) || maxDeviceBlocks < 0 || maxDeviceBlocks > 2 ** 31 - 1)
      throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `the quota must be a whole number from 0 to ${2 ** 31 - 1}, got ${maxDeviceBlocks}`);
    native.sessionSetQuota(this.#live(), maxDeviceBlocks);
  }

  /** @internal the live handle (the scheduler's). */
  _handle(): Handle {
    return this.#live();
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
  async forward(ids: ArrayLike<number>, given?: ForwardOptions): Promise<Logits | Paused | null> {
    const options = optionsOf(given, 'the forward options');
    const sel = oneOf(options.logits, ['none', 'last', 'all'], 'logits', 'last');
    const vocab = this.model.shape.vocabSize;
    const input = tokenIds(ids, vocab);
    const rows = sel === 'none' ? 0 : sel === 'last' ? 1 : input.length;
    const out = rows > 0 ? new Float32Array(rows * vocab) : null;
    if (options.breakpoints === undefined && options.steer === undefined && options.offload === undefined) {
      await this.#run(() => native.sessionForward(this.#live(), input, rows, out));
      return out ? new Logits(rows, vocab, out) : null;
    }
    const L = this.model.shape.numLayers;
    const stops = options.breakpoints === 'all' ? Array.from({ length: L }, (_, l) => l) : [...listOf(options.breakpoints, 'breakpoints (an array of layers, or "all")')];
    for (const b of stops)
      if (!Number.isInteger(b) || b < 0 || b >= L) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `breakpoint layer ${shown(b)} is outside the model's layers (0..${L - 1})`);
    const steer = listOf(options.steer, 'steer').map((e, i) => this.#checkSteer(e, i));
    const step: StepRun = { tokens: input.length, rows, out, stops: new Set(stops), steer };
    const layers = Int32Array.from(new Set([...stops, ...steer.map((e) => e.layer)]));
    return this.#run(async () => {
      const layer = await native.sessionForwardBreakpoints(this.#live(), input, rows, out, layers, options.offload === true);
      return this.#continue(step, layer);
    });
  }

  /** One decode step: appends one token, returns the logits of it. */
  async decode(id: number): Promise<Logits> {
    return (await this.forward([id], { logits: 'last' })) as Logits;
  }

  /**
   * Generation: runs ids, then picks up to maxNewTokens new tokens and returns them: greedy (the
   * argmax each step) by default, sampled with options.temperature (generation.ts), ending early at
   * the first of options.stopAt picked (it is the last token returned). Plain greedy (no options)
   * picks on the device and leaves the session as before the call on an error; with options each
   * pick is made here, and a step that fails leaves the tokens run before it in the session.
   */
  async generate(ids: ArrayLike<number>, maxNewTokens: number, options?: GenerateOptions): Promise<number[]> {
    // Bounded by the model's positions: more new tokens could never be generated, and an unbounded
    // count would allocate its output first (2**32 + 3 threw a bare RangeError).
    const maxPos = this.model.shape.maxPositionEmbeddings;
    if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0 || maxNewTokens > maxPos)
      throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `maxNewTokens must be a whole number from 0 to ${maxPos} (the model's positions), got ${shown(maxNewTokens)}`);
    const input = tokenIds(ids, this.model.shape.vocabSize);
    if (options === undefined) {
      const out = new Int32Array(maxNewTokens);
      await this.#run(() => native.sessionGenerate(this.#live(), input, maxNewTokens, out));
      return Array.from(out);
    }
    checkGenerateOptions(optionsOf(options, 'the generate options'), this.model.shape.vocabSize);
    const pick = sampler(options);
    const stop = new Set(options.stopAt ?? []);
    const tokens: number[] = [];
    if (maxNewTokens === 0) {
      await this.forward(input, { logits: 'none' });
      return tokens;
    }
    let logits = (await this.forward(input, { logits: 'last' })) as Logits;
    for (;;) {
      const t = pick(logits.row(0));
      tokens.push(t);
      options.onToken?.(t, tokens.length - 1);
      if (tokens.length === maxNewTokens || stop.has(t)) return tokens;
      logits = await this.decode(t);
    }
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

  /** @internal Throws the state error dispose() would, without disposing anything (a model checks all its sessions first). */
  _checkDisposable(): void {
    if (this.#handle !== null) this.#idle('dispose');
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
    if (typeof e !== 'object' || e === null) throw invalid(`steer ${i} must be an object { layer, scale?, add? }, got ${shown(e)}`);
    const L = this.model.shape.numLayers;
    if (!Number.isInteger(e.layer) || e.layer < 0 || e.layer >= L) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `steer layer ${shown(e.layer)} is outside the model's layers (0..${L - 1})`);
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
      lens: (rows) =>
        this.#run(async () => {
          const vocab = this.model.shape.vocabSize;
          const out = new Float32Array(rows * vocab);
          await native.sessionLens(this.#live(), rows, out);
          return new Logits(rows, vocab, out);
        }),
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
