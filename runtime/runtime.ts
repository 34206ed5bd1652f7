// runtime.ts: the typed API over the native library: a Runtime (one device, one VRAM budget) loads
// Models (a HuggingFace directory or a synthetic shape); a Model makes Sessions (session.ts: one
// sequence each, with its own KV block table); sessions run prefill, decode and greedy generation.
// Who frees what: the runtime owns its models, a model owns its sessions; dispose() frees an object
// and everything it owns (docs/architecture.md, "Native ownership").
//
//   const rt = await Runtime.open({ device: 'cpu', budget: '512MB' });
//   const model = await rt.loadModel('test/fixtures/tiny-llama-gqa');
//   const s = model.createSession();
//   const logits = await s.forward([3, 17, 42], { logits: 'all' });
//   const tokens = await s.generate([3, 17, 42], 8);
//   const sampled = await s.generate([3, 17, 42], 8, { temperature: 0.8, seed: 1, stopAt: model.eosTokenIds });
//   const p = await s.forward([5], { breakpoints: [2] });   // a Paused (see breakpoint.ts)
//   rt.dispose();   // disposes its models and their sessions
import { checkCallback, checkedInt, deviceArg, invalid, listOf, modelSource, nativeOptions, nativeSource, optionsOf, policyIndex, tokenIds } from './args.js';
import { shown, VramlabError } from './errors.js';
import { eosTokenIds, generationEos } from './generation.js';
import { Logits } from './logits.js';
import { descriptionOf, nativeConfig, shapeOf } from './describe.js';
import { watchLoad } from './load-progress.js';
import { type Handle, native } from './native.js';
import { pagingEvents, pagingStats } from './paging.js';
import { Scheduler, type SchedulerOptions } from './scheduler.js';
import { Session, type SessionModel, stateError } from './session.js';
import type { ModelShape, SyntheticSpec } from './synthetic.js';
import {
  type LoadOptions,
  type MemoryInfo,
  type ModelDescription,
  type ModelInfo,
  type ModelOptions,
  PAGING_POLICIES,
  type PlanTargetOptions,
  type PagingEvent,
  type PagingPolicy,
  type PagingStats,
  PLACEMENTS,
  type RuntimeOptions,
} from './types.js';
import { formatSize, parseSize } from './units.js';

function sessionArg(s: Session, name: string): Session {
  if (!(s instanceof Session)) throw invalid(`${name} must be a Session, got ${shown(s)}`);
  return s;
}

const COPY_DIRECTIONS = { h2d: 0, d2h: 1, both: 2, d2d: 3 } as const;

export class Model implements SessionModel {
  #handle: Handle | null;
  readonly #sessions = new Set<Session>();
  readonly name: string;
  readonly shape: ModelShape;
  /** The ids that end a generation (generation_config.json, else config.json); none for a synthetic model. */
  readonly eosTokenIds: readonly number[];

  /** @internal use Runtime.loadModel */
  constructor(
    readonly runtime: Runtime,
    handle: Handle,
    name: string,
    eos: readonly number[],
  ) {
    this.#handle = handle;
    this.name = name;
    this.eosTokenIds = eos;
    this.shape = shapeOf(native.modelInfo(handle).config);
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
    native.modelSetPaging(this.#live(), policyIndex(policy));
  }

  /** The next-use keys of an upcoming order of turns: sessions[i] runs i-th (for the next-use policy). */
  planTurns(sessions: readonly Session[]): void {
    listOf(sessions, 'planTurns: sessions').forEach((s, i) => sessionArg(s, `planTurns: sessions[${i}]`).nextUse(i));
  }

  pagingStats(): PagingStats {
    return pagingStats(this.#live());
  }

  /**
   * Pins host memory for `bytes` of paged-out KV blocks now (the host block store grows to hold at least
   * that, under the host budget), so that paging later does not wait for the OS to pin pages: as a
   * serving system reserves its swap space at start. Resolves with the milliseconds spent pinning (0 when
   * the store already held that much) and the bytes the store holds. VL_ERR_OUT_OF_MEMORY, nothing
   * pinned, when the host budget cannot hold it.
   */
  async reserveHost(bytes: number): Promise<{ ms: number; bytes: number }> {
    if (!(Number.isSafeInteger(bytes) && bytes >= 0)) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `reserveHost: bytes must be an integer >= 0, got ${bytes}`);
    return this.#onWorker(native.modelReserveHost(this.#live(), bytes));
  }

  /** The pager's records from the `from`-th on (0: all), in order: every decision it made. */
  pagingEvents(from = 0): PagingEvent[] {
    return pagingEvents(this.#live(), checkedInt(from, 'pagingEvents: from', 0, Number.MAX_SAFE_INTEGER));
  }

  #scheduler: Scheduler | null = null;

  /**
   * The model's scheduler, which decodes its sessions together in batched steps (created on first
   * use; options change its prefill chunk and batch size).
   */
  scheduler(options?: SchedulerOptions): Scheduler {
    this.#live();
    this.#scheduler ??= new Scheduler(() => this.#live(), this.shape.vocabSize);
    if (options !== undefined) this.#scheduler.configure(options);
    return this.#scheduler;
  }

  /**
   * One batched forward by hand (node-llama-cpp's decodeBatch): each session appends its ids, all of
   * them in one step (one read of the weights); each gets its last position's logits, or the error
   * that left it out of the step (out of memory, paused at a breakpoint), its session as before.
   */
  async forwardBatch(items: readonly { session: Session; ids: ArrayLike<number> }[]): Promise<({ logits: Logits; error: null } | { logits: null; error: VramlabError })[]> {
    const h = this.#live();
    if (listOf(items, 'forwardBatch: items').length === 0) throw invalid('a batch needs at least one session');
    const vocab = this.shape.vocabSize;
    const parts = items.map((it, i) => tokenIds(optionsOf(it, `forwardBatch: items[${i}]`).ids as ArrayLike<number>, vocab));
    const ids = new Int32Array(parts.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of parts) ids.set(p, (at += p.length) - p.length);
    const counts = Int32Array.from(parts, (p) => p.length);
    const logits = new Float32Array(items.length * vocab);
    const handles = items.map((it, i) => sessionArg(it.session, `forwardBatch: items[${i}].session`)._handle());
    const { errors } = await native.modelForwardBatch(h, handles, counts, ids, logits);
    return items.map((_, i) => {
      const error = errors[i] ?? null;
      return error === null ? { logits: new Logits(1, vocab, logits.subarray(i * vocab, (i + 1) * vocab)), error: null } : { logits: null, error };
    });
  }

  /**
   * Loads the resident weights onto the device again, from a pinned host copy of them made at the first call:
   * what a serverless system pays at every step, at best (it reloads from disk). Its device ms and bytes.
   */
  async reload(): Promise<{ ms: number; bytes: number }> {
    return this.#onWorker(native.modelReload(this.#live()));
  }

  #working = 0; // native calls on worker threads (reload, reserveHost): dispose() waits for none, it refuses
  async #onWorker<T>(call: Promise<T>): Promise<T> {
    this.#working++;
    try {
      return await call;
    } finally {
      this.#working--;
    }
  }

  /** @internal a session of it is being disposed: its scheduled work ends first. */
  _forgetWork(s: Session): void {
    this.#scheduler?._forget(s);
  }

  createSession(): Session {
    const s = new Session(this, native.sessionCreate(this.#live()));
    this.#sessions.add(s);
    return s;
  }

  /**
   * Disposes the model's sessions, then the model; refused (VL_ERR_STATE) with nothing disposed when
   * one of them is running a step (before, the idle sessions were already gone when the busy one refused).
   */
  dispose(): void {
    if (this.#handle === null) return;
    this._checkDisposable();
    for (const s of [...this.#sessions]) s.dispose();
    native.modelFree(this.#handle);
    this.#handle = null;
    this.runtime._forget(this);
  }

  /** @internal Throws the state error dispose() would, disposing nothing. */
  _checkDisposable(): void {
    if (this.#working > 0) throw stateError(`cannot dispose the model ${this.name} while its weights reload or its host store is pinned: await the call first`);
    this.#scheduler?._checkDisposable();
    for (const s of this.#sessions) s._checkDisposable();
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

export class Runtime {
  #handle: Handle | null;
  readonly #models = new Set<Model>();
  #loading = 0;
  readonly device: string;

  private constructor(handle: Handle, device: string) {
    this.#handle = handle;
    this.device = device;
  }

  static async open(given?: RuntimeOptions): Promise<Runtime> {
    const options = optionsOf(given, 'the runtime options');
    const device = deviceArg(options.device ?? 'cpu');
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
  async copyBandwidth(given?: { bytes?: number | string; pinned?: boolean; reps?: number; direction?: 'h2d' | 'd2h' | 'both' | 'd2d' }): Promise<number> {
    const options = optionsOf(given, 'copyBandwidth options');
    const bytes = parseSize(options.bytes ?? 2 ** 30);
    const name = options.direction ?? 'h2d';
    const direction = Object.hasOwn(COPY_DIRECTIONS, name) ? COPY_DIRECTIONS[name] : undefined;
    if (direction === undefined) throw invalid(`unknown copy direction "${String(options.direction)}" (h2d, d2h, both or d2d)`);
    const reps = checkedInt(options.reps ?? 5, 'reps', 1, 100000);
    return native.runtimeCopyBandwidth(this.#live(), bytes, options.pinned ?? true, reps, direction);
  }

  /**
   * Loads a model: a HuggingFace Llama directory, "synthetic:<spec>" (see synthetic.ts) or a parsed
   * SyntheticSpec. options.onProgress is called with the weight bytes placed and in all as the load
   * runs (polled every ~100 ms; load-progress.ts), and with done === total once it has succeeded.
   */
  async loadModel(source: string | SyntheticSpec, given?: LoadOptions): Promise<Model> {
    const rt = this.#live();
    const options = optionsOf(given, 'the load options');
    const opts = nativeOptions(options);
    const src = modelSource(source);
    checkCallback(options.onProgress, 'onProgress');
    const gen = 'dir' in src ? generationEos(src.dir) : undefined;
    const watch = watchLoad(rt, options.onProgress);
    let handle: Handle;
    try {
      handle = await this.#onWorker(() => ('dir' in src ? native.modelLoad(rt, src.dir, opts) : native.modelSynthetic(rt, nativeConfig(src.spec.shape), src.spec.seed, opts)));
    } finally {
      watch.stop();
    }
    let eos: number[] = [];
    try {
      if ('dir' in src) eos = eosTokenIds(src.dir, native.modelInfo(handle).config.vocab_size, gen);
      watch.finish(native.modelInfo(handle).weight_bytes);
      if (watch.error !== undefined) throw watch.error;
    } catch (e) {
      native.modelFree(handle);
      throw e;
    }
    const model = new Model(this, handle, src.name, eos);
    this.#models.add(model);
    return model;
  }

  /**
   * What loading `source` with `options` would place where on this runtime now, without loading it: the
   * shape from config.json and the safetensors headers (checked as a load checks them) or the synthetic
   * spec, and the native planner's placement, ring and KV pool under the budget. Nothing is allocated;
   * a model the budget cannot hold is described too (vram.fits false, vram.short the shortfall).
   */
  async describeModel(source: string | SyntheticSpec, options?: ModelOptions): Promise<ModelDescription> {
    const rt = this.#live();
    const opts = nativeOptions(options);
    const src = modelSource(source);
    const d = await this.#onWorker(() => native.modelDescribe(rt, nativeSource(src), opts));
    return descriptionOf(src.name, d);
  }

  /**
   * The same for a device this machine need not have, none opened: `device` names the backend whose
   * dtypes the plan uses (cpu, cuda:N: its KV cache and activations), `memory` its memory (all free,
   * the budget's default) and `budget` the VRAM budget, sizes as Runtime.open takes them.
   */
  static async describeModelFor(source: string | SyntheticSpec, target: PlanTargetOptions, options: ModelOptions = {}): Promise<ModelDescription> {
    const memory = parseSize(target.memory);
    const budget = target.budget === undefined ? 0 : parseSize(target.budget);
    if (memory === 0) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', "the device's memory must be larger than 0");
    if (target.budget !== undefined && (budget === 0 || budget > memory))
      throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `the VRAM budget must be larger than 0 and at most the device's memory (${formatSize(memory)}), got ${formatSize(budget)}`);
    const src = modelSource(source);
    return descriptionOf(src.name, await native.modelDescribeFor(target.device, memory, budget, nativeSource(src), nativeOptions(options)));
  }

  /** Runs a native call that uses the runtime on a worker thread: dispose() must not close it meanwhile. */
  async #onWorker<T>(call: () => Promise<T>): Promise<T> {
    this.#loading++;
    try {
      return await call();
    } finally {
      this.#loading--;
    }
  }

  /** Disposes every model (and session) of the runtime, then the runtime. */
  dispose(): void {
    if (this.#handle === null) return;
    if (this.#loading > 0) throw stateError('cannot dispose the runtime while a model is loading: await the load first');
    for (const m of this.#models) m._checkDisposable(); // all or nothing
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
