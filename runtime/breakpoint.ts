// breakpoint.ts: a forward step paused after a layer. Session.forward with `breakpoints` runs the step
// up to the first of them and returns a Paused: the step's residual stream after that layer, for every
// position, held by the session (on the device, or in pinned host memory when offloaded) while the
// model runs other sessions and Node runs on. Read it, replace it, scale it or add a vector to every
// position, then resume (to the next breakpoint, or to the logits) or abort (the session's KV cache is
// then exactly as before the step). `steer` is the shorthand "edit the output of layer L": a breakpoint
// at L whose edit is applied and resumed for you.
//
//   const p = await session.forward(ids, { breakpoints: [10] });   // Paused (or Logits without one)
//   const x = p.activation();                                       // (tokens x hidden) Float32Array
//   p.scale(0.9);                                                   // applied on the device at resume
//   const logits = await p.resume();
//   await session.forward(ids, { steer: [{ layer: 10, scale: 0.9 }] });  // the same, in one call
import { invalid } from './args.js';
import { VramlabError } from './errors.js';
import type { Logits } from './logits.js';
import type { BreakpointStats } from './types.js';

/** @internal What a Paused asks of its session (see Session.forward). */
export interface StepDriver {
  readActivation(out: Float32Array): void;
  writeActivation(values: Float32Array): void;
  edit(scale: number, vec: Float32Array | null): void;
  resume(): Promise<Logits | Paused>;
  abort(): void;
  stats(): BreakpointStats;
  /** The logit lens of the last `rows` positions (rows x vocab). */
  lens(rows: number): Promise<Logits>;
  /** Whether the session still holds this step paused after `layer` (after a failed resume). */
  stillPaused(layer: number): boolean;
}

/** Checks a scale: a finite number. */
export function checkScale(scale: number, what: string): number {
  if (typeof scale !== 'number' || !Number.isFinite(scale)) throw invalid(`${what} must be a finite number, got ${String(scale)}`);
  return scale;
}

/** Checks a vector to add: a Float32Array of the hidden size. */
export function checkVector(vec: unknown, hidden: number, what: string): Float32Array {
  if (!(vec instanceof Float32Array)) throw invalid(`${what} must be a Float32Array of the hidden size (${hidden})`);
  if (vec.length !== hidden) throw invalid(`${what} has ${vec.length} values but the hidden size is ${hidden}`);
  return vec;
}

/** A step paused after `layer`. Valid until resume() or abort(); every later call is a VL_ERR_STATE error. */
export class Paused {
  #driver: StepDriver;
  #over: string | null = null; // why this pause is no longer usable
  #activation: Float32Array | null = null; // the last activation read, until an edit
  #finalStats: BreakpointStats | null = null;
  #next: Paused | null = null; // the pause the resume led to: the same step, its stats now live there

  /** @internal use Session.forward with breakpoints */
  constructor(
    driver: StepDriver,
    /** The step paused after this layer (0-based). */
    readonly layer: number,
    /** The step's positions: rows of the activation. */
    readonly tokens: number,
    /** The hidden size: columns of the activation. */
    readonly hidden: number,
  ) {
    this.#driver = driver;
  }

  /**
   * The residual stream after `layer` with the edits made so far: (tokens x hidden) float32,
   * row-major, copied from the session's state straight into a new array on the first call and after
   * each edit (the same array otherwise). The array is yours (it stays valid after resume and
   * abort); changing it changes nothing in the step: pass it to setActivation for that.
   */
  activation(): Float32Array {
    this.#live('read the activation of');
    if (!this.#activation) {
      const out = new Float32Array(this.tokens * this.hidden);
      this.#driver.readActivation(out);
      this.#activation = out;
    }
    return this.#activation;
  }

  /** Replaces the activation (tokens x hidden values); drops the scale and add edits made before. */
  setActivation(values: Float32Array): void {
    this.#live('replace the activation of');
    if (!(values instanceof Float32Array)) throw invalid(`the activation must be a Float32Array of tokens x hidden = ${this.tokens * this.hidden} values`);
    this.#driver.writeActivation(values);
    this.#activation = null;
  }

  /** Multiplies the activation by s at every position (on the device, at the resume). */
  scale(s: number): void {
    this.#live('scale the activation of');
    this.#driver.edit(checkScale(s, 'the scale'), null);
    this.#activation = null;
  }

  /** Adds v (hidden values) to the activation at every position (on the device, at the resume). */
  add(v: Float32Array): void {
    this.#live('add to the activation of');
    this.#driver.edit(1, checkVector(v, this.hidden, 'the vector to add'));
    this.#activation = null;
  }

  /**
   * The logit lens: the model's final norm and output head applied to the activation (with the edits
   * made so far) at the last `rows` positions (default 1), as if the remaining layers were skipped.
   * The step stays paused and unchanged. After the last layer it is exactly the step's own logits.
   */
  async lens(rows = 1): Promise<Logits> {
    this.#live('apply the logit lens to');
    if (!Number.isInteger(rows) || rows < 1 || rows > this.tokens) throw invalid(`the logit lens takes 1 to ${this.tokens} rows (the step's tokens), got ${rows}`);
    return this.#driver.lens(rows);
  }

  /** Runs on to the next breakpoint (a new Paused) or to the end (the logits). */
  async resume(): Promise<Logits | Paused> {
    this.#live('resume');
    this.#over = 'it was already resumed (continue with what resume() returned)';
    try {
      const next = await this.#driver.resume();
      // Paused again: reading the stats now would wait for the device, so they are read from the next
      // pause when asked for.
      if (next instanceof Paused) this.#next = next;
      else this.#finalStats = this.#driver.stats();
      return next;
    } catch (e) {
      // An offloaded step whose KV blocks the pool could not take back stays paused: resume again later.
      if (this.#driver.stillPaused(this.layer)) {
        this.#over = null;
      } else {
        this.#over = 'its resume failed and the step was aborted';
        this.#finalStats = this.#driver.stats();
      }
      throw e;
    }
  }

  /** Drops the step: the session's KV cache is exactly as before it. */
  abort(): void {
    this.#live('abort');
    this.#driver.abort();
    this.#finalStats = this.#driver.stats();
    this.#over = 'it was aborted';
  }

  /**
   * The step's breakpoint costs: now while paused (waiting for the device to reach the pause); after a
   * resume that paused again, those of the step now; after one that finished, or abort(), as they ended.
   */
  stats(): BreakpointStats {
    if (this.#over === null) return this.#driver.stats();
    if (this.#next) return this.#next.stats();
    if (this.#finalStats) return this.#finalStats;
    throw new VramlabError('VL_ERR_STATE', `cannot read the stats of this pause (after layer ${this.layer}): ${this.#over}`);
  }

  /** @internal the session ended this pause (disposed). */
  _end(reason: string): void {
    this.#over ??= reason;
  }

  #live(what: string): void {
    if (this.#over !== null) throw new VramlabError('VL_ERR_STATE', `cannot ${what} this pause (after layer ${this.layer}): ${this.#over}`);
  }
}
