// scheduler.ts: many sessions of one model decoded together. Sessions submit work (a prompt or
// appended tokens to prefill, then greedy tokens to decode) and await its result; while any work is
// pending the scheduler runs the model's batched steps (native/src/scheduler.h) one after another on a
// worker thread: each step carries one decode token of every decoding session and prompt chunks of
// those prefilling (at most `prefillChunk` prompt tokens a step), so that the weights are read once per
// step for all of them. Each step starts as soon as the last one returns, and the last one's results
// are read while it runs (all sessions in one native call), so that the device does not wait for the
// host; a token is stamped when it is read, so that latencies are measured where the user sees them.
//
//   const sched = model.scheduler({ prefillChunk: 128 });
//   await sched.prepare(32);   // the decode graphs of 1..32 sessions, recorded now (optional)
//   const [a, b] = await Promise.all([sched.submit(s1, prompt1, 50), sched.submit(s2, prompt2, 50)]);
//   a.tokens; a.firstTokenMs - a.submittedMs;   // time to first token
import { checkedInt, invalid, optionsOf, tokenIds } from './args.js';
import { VramlabError } from './errors.js';
import { type Handle, native, type NativeScheduleStep } from './native.js';

export interface SchedulerOptions {
  /** Prompt tokens per step, all sessions together (default 256). */
  prefillChunk?: number;
  /** Sessions per step (default 256). */
  maxBatch?: number;
}

/** What one batched step did; times in milliseconds. */
export interface StepReport {
  /** Its number among the steps that ran a batch, from 1 (the last one's for a step that ran none). */
  step: number;
  sessions: number;
  decodeTokens: number;
  prefillTokens: number;
  /** Work items that ended in it, and those still pending after it. */
  finished: number;
  pending: number;
  /** Sessions with work it did not take (paused at a breakpoint, busy, out of memory: tried again). */
  leftOut: number;
  wallMs: number;
  /** Device time of the step; null when none ran. */
  deviceMs: number | null;
  /** performance.now() when the step's results were read. */
  atMs: number;
}

/** A finished work item: its tokens and when they came (performance.now() milliseconds). */
export interface WorkResult {
  tokens: number[];
  submittedMs: number;
  /** When its first token came back; null when it asked for none. */
  firstTokenMs: number | null;
  doneMs: number;
  /** When each token came back. */
  tokenMs: number[];
}

/** What the scheduler needs of a session: its handle (live), and a way to know it. */
export interface Schedulable {
  /** @internal */
  _handle(): Handle;
}

interface Pending {
  handle: Handle;
  newTokens: number;
  result: WorkResult;
  resolve: (r: WorkResult) => void;
  reject: (e: unknown) => void;
}

export class Scheduler {
  readonly #model: () => Handle;
  readonly #vocab: number;
  readonly #work = new Map<Schedulable, Pending>();
  #driving = false;
  #stepping = false; // a native step runs on a worker thread: the model must not be freed under it
  #preparing = 0; // prepare() calls on worker threads, likewise
  /** Called after every step (timings for figures and logs). */
  onStep: ((r: StepReport) => void) | null = null;

  /** @internal use Model.scheduler */
  constructor(model: () => Handle, vocab: number) {
    this.#model = model;
    this.#vocab = vocab;
  }

  configure(given: SchedulerOptions): void {
    const options = optionsOf(given, 'the scheduler options');
    const chunk = checkedInt(options.prefillChunk ?? 256, 'prefillChunk', 1, 1 << 20);
    const batch = checkedInt(options.maxBatch ?? 256, 'maxBatch', 1, 1 << 16);
    native.modelSetScheduler(this.#model(), chunk, batch);
  }

  /**
   * Records the CUDA graphs of decode steps of 1 to maxBatch sessions now, as a server does at its
   * start, so that no step pays for recording one later (each size would otherwise run eagerly once
   * and record at its second step). Resolves to how many it recorded: 0 on the CPU backend. Call it
   * while no work is pending.
   */
  async prepare(maxBatch: number): Promise<number> {
    checkedInt(maxBatch, 'maxBatch', 1, 1 << 16);
    if (this.#driving) throw new VramlabError('VL_ERR_STATE', 'prepare the scheduler while no work is pending: await the submitted work first');
    this.#preparing++;
    try {
      return await native.modelPrepareScheduler(this.#model(), maxBatch);
    } finally {
      this.#preparing--;
    }
  }

  /** Work items not finished yet. */
  get pending(): number {
    return this.#work.size;
  }

  /**
   * Prefills ids on the session, then picks newTokens tokens greedily (each run in the next step but
   * the last); resolves with them once done. The session takes no other calls meanwhile.
   */
  submit(session: Schedulable, ids: ArrayLike<number>, newTokens: number): Promise<WorkResult> {
    let handle: Handle;
    let input: Int32Array;
    try {
      if (typeof (session as Partial<Schedulable> | null)?._handle !== 'function') throw invalid('submit: the first argument must be a Session of this model');
      handle = session._handle();
      checkedInt(newTokens, 'newTokens', 0, 2 ** 31 - 1);
      if (this.#work.has(session)) throw new VramlabError('VL_ERR_STATE', 'the session already has work submitted: await it first');
      input = tokenIds(ids, this.#vocab);
    } catch (e) {
      return Promise.reject(e);
    }
    try {
      native.sessionSubmit(handle, input, newTokens);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<WorkResult>((resolve, reject) => {
      const result: WorkResult = { tokens: [], submittedMs: performance.now(), firstTokenMs: null, doneMs: 0, tokenMs: [] };
      this.#work.set(session, { handle, newTokens, result, resolve, reject });
      void this.#drive();
    });
  }

  /** @internal a session is being disposed: its work ends (rejected), before its handle goes. */
  _forget(session: Schedulable): void {
    const p = this.#work.get(session);
    if (!p) return;
    this.#work.delete(session);
    native.sessionCancel(p.handle);
    p.reject(new VramlabError('VL_ERR_STATE', 'the session was disposed before its work was done'));
  }

  /**
   * Runs steps while any work is pending (one driver at a time). The next step is started before the
   * last one's results are read, so that the device does not wait for the host to read them.
   */
  async #drive(): Promise<void> {
    if (this.#driving) return;
    this.#driving = true;
    let next: Promise<NativeScheduleStep> | null = this.#start();
    try {
      while (next) {
        let r;
        try {
          r = await next;
        } catch (e) {
          // The device failed under the step: every pending item fails with it.
          next = null;
          for (const [s, p] of this.#work) {
            this.#work.delete(s);
            native.sessionCancel(p.handle);
            p.reject(e);
          }
          return;
        }
        const at = performance.now();
        // Work left after it (r.pending counts every session's, submitted here or not) and a step that
        // ran: the next one starts now. After a step with nothing runnable (every session with work
        // paused or busy) the others move first.
        next = r.pending > 0 && r.sessions > 0 ? this.#start() : null;
        this.#stepping = next !== null;
        this.#collect(r.step);
        this.onStep?.({
          step: r.step,
          sessions: r.sessions,
          decodeTokens: r.decode_tokens,
          prefillTokens: r.prefill_tokens,
          finished: r.finished,
          pending: r.pending,
          leftOut: r.left_out,
          wallMs: r.wall_ms,
          deviceMs: r.device_ms < 0 ? null : r.device_ms,
          atMs: at,
        });
        if (!next && this.#work.size > 0) {
          if (r.sessions === 0) await new Promise((res) => setTimeout(res, 1));
          next = this.#start();
        }
      }
    } finally {
      this.#stepping = false;
      this.#driving = false;
    }
  }

  /** Starts a step on a worker thread; a model that is gone fails the promise (the loop's catch). */
  #start(): Promise<NativeScheduleStep> {
    this.#stepping = true;
    try {
      return native.modelStep(this.#model());
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** @internal Throws the state error of disposing the model while a step runs on a worker thread. */
  _checkDisposable(): void {
    if (this.#stepping) throw new VramlabError('VL_ERR_STATE', 'cannot dispose the model while its scheduler runs a step: await the submitted work first');
    if (this.#preparing > 0) throw new VramlabError('VL_ERR_STATE', 'cannot dispose the model while its scheduler records its graphs: await prepare() first');
  }

  /**
   * Reads every pending item's progress as of step `step` (one native call); a token is stamped with
   * the time it was read. The step after it may already have run, when the host reads late: an item
   * that step changed is left for the next read (so that nothing settles while a step is in flight
   * unawaited). Ended items settle.
   */
  #collect(step: number): void {
    const pending = [...this.#work];
    const from = Int32Array.from(pending, ([, p]) => p.result.tokens.length);
    const room = pending.reduce((sum, [, p], i) => sum + Math.max(p.newTokens - (from[i] as number), 0), 0);
    const works = native.sessionsWork(pending.map(([, p]) => p.handle), from, room);
    const at = performance.now();
    pending.forEach(([s, p], i) => {
      const { info, tokens, error } = works[i] as (typeof works)[number];
      if (info.step > step) return;
      const res = p.result;
      for (const t of tokens) {
        res.tokens.push(t);
        res.tokenMs.push(at);
        res.firstTokenMs ??= at;
      }
      if (info.active) return;
      this.#work.delete(s);
      res.doneMs = at;
      if (info.status !== 0) p.reject(native.workError(info.status, error));
      else p.resolve(res);
    });
  }
}
