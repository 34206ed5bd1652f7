// state.ts: what a REPL holds between commands: the runtime and model, its sessions (each with its
// paused step, the edits made at that pause and the last logits), the armed breakpoints, and a .vlab
// plan being stepped through. Steps run with a stop after every layer (the runtime's breakpoints), so
// that a step can show progress and be interrupted (Ctrl-C) at a layer boundary; only the armed
// layers (and an interrupt) give the prompt back.
import type { Paused } from '../../runtime/breakpoint.js';
import { VramlabError } from '../../runtime/errors.js';
import { Logits } from '../../runtime/logits.js';
import type { Model, Runtime } from '../../runtime/runtime.js';
import type { Session } from '../../runtime/session.js';
import type { RunEvent, RunResult } from '../../lab/runner.js';
import type { ResultRow } from '../../lab/results.js';

/** An edit made at the current pause, in order (undo replays all but the last). */
export type Edit =
  | { kind: 'scale'; s: number }
  | { kind: 'add'; v: Float32Array; from: string }
  | { kind: 'set'; values: Float32Array; from: string }
  | { kind: 'zero'; pos: number | null };

export interface SessionSlot {
  session: Session;
  /** The directory of the session's model (its tokenizer.json), null for a synthetic one. */
  modelDir: string | null;
  /** The paused step's Paused (the session's own, or a plan's). */
  paused: Paused | null;
  /** Milliseconds the current step has run so far (its segments' wall time). */
  stepMs: number;
  edits: Edit[];
  /** The activation as it paused, before the edits (for undo). */
  base: Float32Array | null;
  logits: Logits | null;
}

export interface PlanCursor {
  file: string;
  events: AsyncGenerator<RunEvent, RunResult, void>;
  /** Each experiment's metrics (its results table's columns after the parameters that vary). */
  metrics: Map<string, string[]>;
  rows: { experiment: string; row: ResultRow }[];
  done: boolean;
  /** The session a plan's pause belongs to (not one of the REPL's). */
  slot: SessionSlot | null;
}

/** A session's slot with nothing run yet. */
export function newSlot(session: Session, modelDir: string | null): SessionSlot {
  return { session, modelDir, paused: null, stepMs: 0, edits: [], base: null, logits: null };
}

export function usage(message: string): VramlabError {
  return new VramlabError('VL_ERR_USAGE', message);
}

export class ReplState {
  rt: Runtime | null = null;
  model: Model | null = null;
  /** The model's directory (for its tokenizer), null for a synthetic one. */
  modelDir: string | null = null;
  readonly sessions: SessionSlot[] = [];
  current = 0;
  readonly breakpoints = new Set<number>();
  plan: PlanCursor | null = null;
  /**
   * Set by Ctrl-C (interrupt()) while a line runs: a step stops at the next layer, a plan at its next
   * row or pause, a load drops its model when it ends; a JavaScript line is no longer awaited.
   */
  interrupted = false;
  /**
   * What Ctrl-C does to the line running now: its command's `interrupt`; '' for JavaScript (its error
   * says it); null for a command that runs to its end, or when idle.
   */
  running: string | null = null;
  #onInterrupt: (() => void)[] = [];
  /** Called after each layer of a running step (progress). */
  onLayer: ((layer: number, layers: number, ms: number) => void) | null = null;

  constructor(readonly device: string) {}

  needModel(): Model {
    if (!this.model) throw new VramlabError('VL_ERR_STATE', 'no model loaded: load MODEL first (a model directory or synthetic:<spec>)');
    return this.model;
  }

  /** The current session's slot (the plan's when a plan is paused). */
  slot(): SessionSlot {
    if (this.plan?.slot) return this.plan.slot;
    this.needModel();
    const s = this.sessions[this.current];
    if (!s) throw new VramlabError('VL_ERR_STATE', 'no session');
    return s;
  }

  newSession(): number {
    const session = this.needModel().createSession();
    this.sessions.push(newSlot(session, this.modelDir));
    return this.sessions.length - 1;
  }

  /** Ctrl-C: sets `interrupted` and settles the promises of interruption(). */
  interrupt(): void {
    this.interrupted = true;
    const waiting = this.#onInterrupt;
    this.#onInterrupt = [];
    for (const f of waiting) f();
  }

  /** A promise that settles at the next interrupt(), and its cancel (call it once the wait is over). */
  interruption(): { promise: Promise<void>; cancel(): void } {
    let done: () => void = () => {};
    const promise = new Promise<void>((resolve) => (done = resolve));
    this.#onInterrupt.push(done);
    return { promise, cancel: () => (this.#onInterrupt = this.#onInterrupt.filter((f) => f !== done)) };
  }

  /**
   * A model loaded in its own runtime takes the place of the one before (disposed now, with its sessions
   * and paused steps): one session, no breakpoints. An open plan has its own runtime and stays.
   */
  adopt(rt: Runtime, model: Model, dir: string | null): void {
    this.sessions.length = 0;
    this.rt?.dispose();
    this.rt = rt;
    this.model = model;
    this.modelDir = dir;
    this.breakpoints.clear();
    this.current = this.newSession();
  }

  needPaused(what: string): Paused {
    const p = this.slot().paused;
    if (!p) throw new VramlabError('VL_ERR_STATE', `nothing is paused: ${what} needs a paused step (break L, then run)`);
    return p;
  }

  needLogits(): Logits {
    const l = this.slot().logits;
    if (!l) throw new VramlabError('VL_ERR_STATE', 'no logits yet: run a pass to the end first (run, then continue)');
    return l;
  }

  async closePlan(): Promise<void> {
    const p = this.plan;
    this.plan = null;
    if (p && !p.done) await p.events.return({ file: p.file, experiments: [], cancelled: true });
  }

  async dispose(): Promise<void> {
    await this.closePlan();
    this.sessions.length = 0;
    this.rt?.dispose();
    this.rt = null;
    this.model = null;
  }

  /** The step is over without logits (aborted, or failed). */
  dropPause(slot: SessionSlot): void {
    slot.paused = null;
    slot.edits = [];
    slot.base = null;
  }

  /** After a segment of the current step: paused at `layer`, or finished with logits. */
  settle(slot: SessionSlot, r: Logits | Paused): void {
    if (r instanceof Logits) {
      slot.paused = null;
      slot.logits = r;
    } else {
      slot.paused = r;
    }
    slot.edits = [];
    slot.base = null;
  }

  /**
   * Runs the current step (`start`: its first segment, or a resume) on layer by layer until an armed
   * layer (any layer when `stopAtNext`), an interrupt (Ctrl-C) or the end; the slot then holds the pause
   * or the logits.
   */
  async drive(slot: SessionSlot, start: () => Promise<Logits | Paused>, stopAtNext: boolean): Promise<Logits | Paused> {
    const L = this.needModel().shape.numLayers;
    const timed = async (f: () => Promise<Logits | Paused>): Promise<Logits | Paused> => {
      const t = performance.now();
      try {
        return await f();
      } finally {
        slot.stepMs += performance.now() - t;
      }
    };
    try {
      let r = await timed(start);
      while (!(r instanceof Logits)) {
        const p: Paused = r;
        this.onLayer?.(p.layer, L, slot.stepMs);
        if (stopAtNext || this.breakpoints.has(p.layer) || this.interrupted) break;
        r = await timed(() => p.resume());
      }
      this.settle(slot, r);
      return r;
    } catch (e) {
      // A failed resume aborts the step (or leaves it paused where it was: an offloaded step out of memory).
      if (slot.paused && slot.session.paused !== slot.paused) this.dropPause(slot);
      throw e;
    }
  }
}
