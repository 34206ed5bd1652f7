// native.ts: the one file that binds libvramlab with koffi. It declares the C ABI of
// native/include/vramlab.h, turns statuses into VramlabErrors carrying the native message, and runs
// long calls (model loads, forward passes) as koffi async calls on worker threads so that Node's
// thread never blocks. Nothing else in vramlab touches koffi.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import { VramlabError } from './errors.js';

/** A native handle: an opaque pointer, as koffi 3 returns it. */
export type Handle = bigint;

export interface NativeModelConfig {
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_layers: number;
  num_heads: number;
  num_kv_heads: number;
  head_dim: number;
  max_position_embeddings: number;
  tie_word_embeddings: number;
  dtype: number;
  rms_norm_eps: number;
  rope_theta: number;
}

export interface NativeModelOptions {
  kv_block_tokens: number;
  kv_pool_tokens: number;
  placement: number;
  prefetch: number;
  ring_bytes: number;
}

export interface NativeMemoryInfo {
  budget: number;
  current: number;
  peak: number;
  device_total: number;
  device_free: number;
}

export interface NativeModelInfo {
  config: NativeModelConfig;
  weight_bytes: number;
  kv_pool_bytes: number;
  kv_block_tokens: number;
  kv_pool_blocks: number;
  kv_free_blocks: number;
  placement: number;
  resident_layers: number;
  prefetch: number;
  resident_bytes: number;
  host_bytes: number;
  ring_bytes: number;
  layer_bytes: number;
}

export interface NativeStepStats {
  tokens: number;
  steps: number;
  h2d_bytes: number;
  wall_ms: number;
  device_ms: number;
}

export interface NativeLayerTiming {
  copy_start_ms: number;
  copy_end_ms: number;
  compute_start_ms: number;
  compute_end_ms: number;
}

export interface NativeSessionInfo {
  n_tokens: number;
  n_blocks: number;
}

export interface NativeBreakpointStats {
  layer: number;
  tokens: number;
  hidden: number;
  offloaded: number;
  pauses: number;
  pause_ms: number;
  restore_ms: number;
  to_logits_ms: number;
  gap_ms: number;
  d2h_bytes: number;
  h2d_bytes: number;
}

/** The package root: the nearest folder above this file holding vramlab's package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'vramlab') return dir;
    const up = dirname(dir);
    if (up === dir) throw new VramlabError('VL_ERR_NOT_BUILT', 'cannot find the vramlab package root above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

function libraryPath(): string {
  const override = process.env['VRAMLAB_LIB'];
  if (override) return override;
  const path = join(packageRoot(), 'native', 'build', 'libvramlab.so');
  if (!existsSync(path)) throw new VramlabError('VL_ERR_NOT_BUILT', `${path} is missing: run npm install (or npm run build) to build the native library`);
  return path;
}

function bind() {
  const lib = koffi.load(libraryPath());
  koffi.opaque('vl_runtime');
  koffi.opaque('vl_model');
  koffi.opaque('vl_session');
  koffi.struct('vl_model_config', {
    vocab_size: 'int32_t',
    hidden_size: 'int32_t',
    intermediate_size: 'int32_t',
    num_layers: 'int32_t',
    num_heads: 'int32_t',
    num_kv_heads: 'int32_t',
    head_dim: 'int32_t',
    max_position_embeddings: 'int32_t',
    tie_word_embeddings: 'int32_t',
    dtype: 'int32_t',
    rms_norm_eps: 'float',
    rope_theta: 'float',
  });
  koffi.struct('vl_model_options', { kv_block_tokens: 'int32_t', kv_pool_tokens: 'int32_t', placement: 'int32_t', prefetch: 'int32_t', ring_bytes: 'uint64_t' });
  koffi.struct('vl_step_stats', { tokens: 'int32_t', steps: 'int32_t', h2d_bytes: 'uint64_t', wall_ms: 'double', device_ms: 'double' });
  koffi.struct('vl_layer_timing', { copy_start_ms: 'float', copy_end_ms: 'float', compute_start_ms: 'float', compute_end_ms: 'float' });
  koffi.struct('vl_memory_info', { budget: 'uint64_t', current: 'uint64_t', peak: 'uint64_t', device_total: 'uint64_t', device_free: 'uint64_t' });
  koffi.struct('vl_model_info', {
    config: 'vl_model_config',
    weight_bytes: 'uint64_t',
    kv_pool_bytes: 'uint64_t',
    kv_block_tokens: 'int32_t',
    kv_pool_blocks: 'int32_t',
    kv_free_blocks: 'int32_t',
    placement: 'int32_t',
    resident_layers: 'int32_t',
    prefetch: 'int32_t',
    resident_bytes: 'uint64_t',
    host_bytes: 'uint64_t',
    ring_bytes: 'uint64_t',
    layer_bytes: 'uint64_t',
  });
  koffi.struct('vl_session_info', { n_tokens: 'int32_t', n_blocks: 'int32_t' });
  koffi.struct('vl_breakpoint_stats', {
    layer: 'int32_t',
    tokens: 'int32_t',
    hidden: 'int32_t',
    offloaded: 'int32_t',
    pauses: 'int32_t',
    pause_ms: 'double',
    restore_ms: 'double',
    to_logits_ms: 'double',
    gap_ms: 'double',
    d2h_bytes: 'uint64_t',
    h2d_bytes: 'uint64_t',
  });
  return {
    abi_version: lib.func('int32_t vl_abi_version(void)'),
    last_error: lib.func('const char *vl_last_error(void)'),
    runtime_open: lib.func('int32_t vl_runtime_open(const char *device, uint64_t budget, _Out_ vl_runtime **out)'),
    runtime_close: lib.func('int32_t vl_runtime_close(vl_runtime *rt)'),
    runtime_memory: lib.func('int32_t vl_runtime_memory(vl_runtime *rt, _Out_ vl_memory_info *out)'),
    runtime_device_name: lib.func('int32_t vl_runtime_device_name(vl_runtime *rt, _Out_ uint8_t *buf, int32_t cap)'),
    runtime_error: lib.func('const char *vl_runtime_error(vl_runtime *rt)'),
    runtime_copy_bandwidth: lib.func('int32_t vl_runtime_copy_bandwidth(vl_runtime *rt, uint64_t bytes, int32_t pinned, int32_t reps, _Out_ double *gbps)'),
    model_load: lib.func('int32_t vl_model_load(vl_runtime *rt, const char *dir, const vl_model_options *options, _Out_ vl_model **out)'),
    model_synthetic: lib.func(
      'int32_t vl_model_synthetic(vl_runtime *rt, const vl_model_config *config, uint64_t seed, const vl_model_options *options, _Out_ vl_model **out)',
    ),
    model_info: lib.func('int32_t vl_model_info_get(vl_model *m, _Out_ vl_model_info *out)'),
    model_free: lib.func('int32_t vl_model_free(vl_model *m)'),
    session_create: lib.func('int32_t vl_session_create(vl_model *m, _Out_ vl_session **out)'),
    session_free: lib.func('int32_t vl_session_free(vl_session *s)'),
    session_info: lib.func('int32_t vl_session_info_get(vl_session *s, _Out_ vl_session_info *out)'),
    session_reset: lib.func('int32_t vl_session_reset(vl_session *s)'),
    session_forward: lib.func('int32_t vl_session_forward(vl_session *s, const int32_t *ids, int32_t n, int32_t logits_rows, _Out_ float *logits)'),
    session_generate: lib.func('int32_t vl_session_generate(vl_session *s, const int32_t *ids, int32_t n, int32_t max_new, _Out_ int32_t *out)'),
    session_error: lib.func('const char *vl_session_error(vl_session *s)'),
    session_last_step: lib.func('int32_t vl_session_last_step(vl_session *s, _Out_ vl_step_stats *out)'),
    session_timeline: lib.func('int32_t vl_session_timeline(vl_session *s, _Out_ uint8_t *out, int32_t cap, _Out_ int32_t *n)'),
    session_forward_breakpoints: lib.func(
      'int32_t vl_session_forward_breakpoints(vl_session *s, const int32_t *ids, int32_t n, int32_t logits_rows, _Out_ float *logits, const int32_t *breakpoints, int32_t n_breakpoints, int32_t offload, _Out_ int32_t *paused_layer)',
    ),
    session_resume: lib.func('int32_t vl_session_resume(vl_session *s, _Out_ float *logits, _Out_ int32_t *paused_layer)'),
    session_abort: lib.func('int32_t vl_session_abort(vl_session *s)'),
    session_activation_get: lib.func('int32_t vl_session_activation_get(vl_session *s, _Out_ float *out, int64_t count)'),
    session_activation_set: lib.func('int32_t vl_session_activation_set(vl_session *s, const float *in, int64_t count)'),
    session_activation_edit: lib.func('int32_t vl_session_activation_edit(vl_session *s, float scale, const float *vec, int64_t count)'),
    session_breakpoint_stats: lib.func('int32_t vl_session_breakpoint_stats(vl_session *s, _Out_ vl_breakpoint_stats *out)'),
  };
}

type Bindings = ReturnType<typeof bind>;
type KoffiFunction = Bindings[keyof Bindings];
let bindings: Bindings | undefined;

function lib(): Bindings {
  bindings ??= bind();
  return bindings;
}

/** Throws the VramlabError of a failed synchronous call (message from vl_last_error). */
function check(status: number): void {
  if (status !== 0) throw VramlabError.fromStatus(status, lib().last_error() as string);
}

/** Runs a native call on a koffi worker thread; on failure reads the message kept on the handle. */
function callAsync(fn: KoffiFunction, args: unknown[], errorOf: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    (fn.async as (...a: unknown[]) => void)(...args, (err: unknown, status: number) => {
      if (err) reject(new VramlabError('VL_ERR_INTERNAL', `native call failed: ${String(err)}`));
      else if (status !== 0) reject(VramlabError.fromStatus(status, errorOf()));
      else resolve();
    });
  });
}

function outHandle(): [Handle | null] {
  return [null];
}

function handleOf(out: [Handle | null]): Handle {
  if (out[0] === null) throw new VramlabError('VL_ERR_INTERNAL', 'native call returned no handle');
  return out[0];
}

function toNumbers<T extends object>(o: T): T {
  const r: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) r[k] = typeof v === 'bigint' ? Number(v) : v;
  return r as T;
}

export const native = {
  abiVersion(): number {
    return lib().abi_version() as number;
  },

  runtimeOpen(device: string, budget: number): Handle {
    const out = outHandle();
    // vl_runtime_open has no handle to keep its message on yet; koffi runs async calls on worker
    // threads, so the thread-local vl_last_error() is not ours to read: open synchronously (fast,
    // except CUDA context creation, a one-off).
    check(lib().runtime_open(device, BigInt(budget), out) as number);
    return handleOf(out);
  },
  runtimeClose(rt: Handle): void {
    check(lib().runtime_close(rt) as number);
  },
  runtimeMemory(rt: Handle): NativeMemoryInfo {
    const out = {} as NativeMemoryInfo;
    check(lib().runtime_memory(rt, out) as number);
    return toNumbers(out);
  },
  runtimeDeviceName(rt: Handle): string {
    const buf = Buffer.alloc(256);
    check(lib().runtime_device_name(rt, buf, buf.length) as number);
    return buf.toString('utf8', 0, buf.indexOf(0));
  },

  async runtimeCopyBandwidth(rt: Handle, bytes: number, pinned: boolean, reps: number): Promise<number> {
    const out = [0];
    await callAsync(lib().runtime_copy_bandwidth, [rt, BigInt(bytes), pinned ? 1 : 0, reps, out], () => lib().runtime_error(rt) as string);
    return out[0] as number;
  },

  async modelLoad(rt: Handle, dir: string, options: NativeModelOptions): Promise<Handle> {
    const out = outHandle();
    await callAsync(lib().model_load, [rt, dir, options, out], () => lib().runtime_error(rt) as string);
    return handleOf(out);
  },
  async modelSynthetic(rt: Handle, config: NativeModelConfig, seed: number, options: NativeModelOptions): Promise<Handle> {
    const out = outHandle();
    await callAsync(lib().model_synthetic, [rt, config, BigInt(seed), options, out], () => lib().runtime_error(rt) as string);
    return handleOf(out);
  },
  modelInfo(m: Handle): NativeModelInfo {
    const out = {} as NativeModelInfo;
    check(lib().model_info(m, out) as number);
    return { ...toNumbers(out), config: out.config };
  },
  modelFree(m: Handle): void {
    check(lib().model_free(m) as number);
  },

  sessionCreate(m: Handle): Handle {
    const out = outHandle();
    check(lib().session_create(m, out) as number);
    return handleOf(out);
  },
  sessionFree(s: Handle): void {
    check(lib().session_free(s) as number);
  },
  sessionInfo(s: Handle): NativeSessionInfo {
    const out = {} as NativeSessionInfo;
    check(lib().session_info(s, out) as number);
    return out;
  },
  sessionReset(s: Handle): void {
    check(lib().session_reset(s) as number);
  },
  sessionLastStep(s: Handle): NativeStepStats {
    const out = {} as NativeStepStats;
    check(lib().session_last_step(s, out) as number);
    return toNumbers(out);
  },
  sessionTimeline(s: Handle, layers: number): NativeLayerTiming[] {
    const out: NativeLayerTiming[] = [];
    const n = [0];
    // vl_layer_timing is four floats: read them from a plain buffer.
    const buf = Buffer.alloc(16 * Math.max(layers, 1));
    check(lib().session_timeline(s, buf, layers, n) as number);
    const count = Math.min(n[0] as number, layers);
    for (let i = 0; i < count; i++)
      out.push({ copy_start_ms: buf.readFloatLE(16 * i), copy_end_ms: buf.readFloatLE(16 * i + 4), compute_start_ms: buf.readFloatLE(16 * i + 8), compute_end_ms: buf.readFloatLE(16 * i + 12) });
    return out;
  },
  sessionForward(s: Handle, ids: Int32Array, logitsRows: number, logits: Float32Array | null): Promise<void> {
    return callAsync(lib().session_forward, [s, ids, ids.length, logitsRows, logits], () => lib().session_error(s) as string);
  },
  sessionGenerate(s: Handle, ids: Int32Array, maxNew: number, out: Int32Array): Promise<void> {
    return callAsync(lib().session_generate, [s, ids, ids.length, maxNew, out], () => lib().session_error(s) as string);
  },

  /** Starts a step with breakpoints; resolves to the layer it paused after, or -1 when it finished. */
  async sessionForwardBreakpoints(s: Handle, ids: Int32Array, logitsRows: number, logits: Float32Array | null, breakpoints: Int32Array, offload: boolean): Promise<number> {
    const paused = [0];
    await callAsync(
      lib().session_forward_breakpoints,
      [s, ids, ids.length, logitsRows, logits, breakpoints.length > 0 ? breakpoints : null, breakpoints.length, offload ? 1 : 0, paused],
      () => lib().session_error(s) as string,
    );
    return paused[0] as number;
  },
  /** Resumes the paused step; resolves to the next layer it paused after, or -1 when it finished. */
  async sessionResume(s: Handle, logits: Float32Array | null): Promise<number> {
    const paused = [0];
    await callAsync(lib().session_resume, [s, logits, paused], () => lib().session_error(s) as string);
    return paused[0] as number;
  },
  sessionAbort(s: Handle): void {
    check(lib().session_abort(s) as number);
  },
  /** Copies the paused activation (tokens x hidden) straight into out, which must have that length. */
  sessionActivationGet(s: Handle, out: Float32Array): void {
    check(lib().session_activation_get(s, out, out.length) as number);
  },
  sessionActivationSet(s: Handle, values: Float32Array): void {
    check(lib().session_activation_set(s, values, values.length) as number);
  },
  sessionActivationEdit(s: Handle, scale: number, vec: Float32Array | null): void {
    check(lib().session_activation_edit(s, scale, vec, vec ? vec.length : 0) as number);
  },
  sessionBreakpointStats(s: Handle): NativeBreakpointStats {
    const out = {} as NativeBreakpointStats;
    check(lib().session_breakpoint_stats(s, out) as number);
    return toNumbers(out);
  },
};
