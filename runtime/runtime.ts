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
//   const p = await s.forward([5], { breakpoints: [2] });   // a Paused (see breakpoint.ts)
//   rt.dispose();   // disposes its models and their sessions
import { existsSync, statSync } from 'node:fs';
import { VramlabError } from './errors.js';
import { type Handle, native, type NativeModelConfig } from './native.js';
import { Session, type SessionModel, stateError } from './session.js';
import { type DType, type ModelShape, parseSyntheticSpec, type SyntheticSpec } from './synthetic.js';
import { type MemoryInfo, type ModelInfo, type ModelOptions, PLACEMENTS, type RuntimeOptions } from './types.js';
import { parseSize } from './units.js';

const DTYPES: DType[] = ['f32', 'f16', 'bf16'];

function positiveInt(v: number | undefined, name: string): number {
  if (v === undefined) return 0;
  if (!Number.isInteger(v) || v < 1) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `${name} must be a positive integer, got ${v}`);
  return v;
}

export class Model implements SessionModel {
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
    };
  }

  createSession(): Session {
    const s = new Session(this, native.sessionCreate(this.#live()));
    this.#sessions.add(s);
    return s;
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
    return new Runtime(native.runtimeOpen(device, budget), device);
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
    return { budget: m.budget, current: m.current, peak: m.peak, deviceTotal: m.device_total, deviceFree: m.device_free };
  }

  /** Host-to-device copy bandwidth in GB/s: `bytes` (default 1 GiB) from pinned or pageable memory. */
  async copyBandwidth(options: { bytes?: number | string; pinned?: boolean; reps?: number } = {}): Promise<number> {
    const bytes = parseSize(options.bytes ?? 2 ** 30);
    return native.runtimeCopyBandwidth(this.#live(), bytes, options.pinned ?? true, options.reps ?? 5);
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
    const opts = {
      kv_block_tokens: positiveInt(options.kvBlockTokens, 'kvBlockTokens'),
      kv_pool_tokens: positiveInt(options.kvPoolTokens, 'kvPoolTokens'),
      placement: PLACEMENTS.indexOf(placement),
      prefetch: options.prefetch ?? 0,
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

  #live(): Handle {
    if (this.#handle === null) throw stateError('the runtime was disposed');
    return this.#handle;
  }
}
