// native.ts: the one file that binds libvramlab with koffi. It declares the C ABI of
// native/include/vramlab.h (each struct once, in STRUCTS; the TypeScript types are derived from it),
// checks the library's ABI version when it is loaded, turns statuses into VramlabErrors (the code from
// vl_status_name, the native message), and runs long calls (model loads, forward passes, page-ins) as
// koffi async calls on worker threads so that Node's thread never blocks. Nothing else in vramlab
// touches koffi.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import {
  type NativeBreakpointStats,
  type NativeLayerTiming,
  type NativeMemoryInfo,
  type NativeModelConfig,
  type NativeModelDescription,
  type NativeModelInfo,
  type NativeModelOptions,
  type NativePagingEvent,
  type NativePagingStats,
  type NativeRuntimeOptions,
  type NativeScheduleStep,
  type NativeSessionInfo,
  type NativeStepStats,
  type NativeWorkInfo,
  FUNCTIONS,
  STRUCTS,
  type StructName,
  type StructOf,
} from './abi.js';
import { errorCode, VramlabError } from './errors.js';
import { fileExists, readJsonFile } from './files.js';

/** The VL_ABI_VERSION of vramlab.h this file declares. */
export const ABI_VERSION = 11;

export type {
  NativeBreakpointStats,
  NativeLayerTiming,
  NativeMemoryInfo,
  NativeModelConfig,
  NativeModelDescription,
  NativeModelInfo,
  NativeModelOptions,
  NativePagingEvent,
  NativePagingStats,
  NativeRuntimeOptions,
  NativeScheduleStep,
  NativeSessionInfo,
  NativeStepStats,
  NativeWorkInfo,
};

/** A native handle: an opaque pointer, as koffi 3 returns it. */
export type Handle = bigint;

/** The package root: the nearest folder above this file holding vramlab's package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (fileExists(pkg) && (readJsonFile(pkg, 2 ** 20, 'a package.json') as { name?: string } | null)?.name === 'vramlab') return dir;
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
  const path = libraryPath();
  const lib = koffi.load(path);
  const version = lib.func('int32_t vl_abi_version(void)')() as number;
  if (version !== ABI_VERSION)
    throw new VramlabError('VL_ERR_NOT_BUILT', `${path} has ABI version ${version} but this vramlab declares version ${ABI_VERSION}: rebuild the native library (npm run build)`);
  koffi.opaque('vl_runtime');
  koffi.opaque('vl_model');
  koffi.opaque('vl_session');
  for (const [name, fields] of Object.entries(STRUCTS)) koffi.struct(name, fields);
  const bound = Object.entries(FUNCTIONS).map(([name, prototype]) => [name, lib.func(prototype)]);
  return Object.fromEntries(bound) as Record<keyof typeof FUNCTIONS, ReturnType<typeof lib.func>>;
}

type Bindings = ReturnType<typeof bind>;
type KoffiFunction = Bindings[keyof Bindings];
let bindings: Bindings | undefined;

function lib(): Bindings {
  bindings ??= bind();
  return bindings;
}

/** The VramlabError of a failed call: its code named by the library (vl_status_name), its message. */
function failure(status: number, message: string): VramlabError {
  const name = lib().status_name(status) as string;
  return new VramlabError(errorCode(name), message || `native call failed with ${name} (${status})`);
}

/** Throws the VramlabError of a failed synchronous call (message from vl_last_error). */
function check(status: number): void {
  if (status !== 0) throw failure(status, lib().last_error() as string);
}

/** sizeof(vl_error): int32_t status, then a NUL-terminated message (vramlab.h). */
const ERROR_BYTES = 1024;

/** The status and message a call wrote into the vl_error at byte `at` of `buf`. */
function readError(buf: Buffer, at = 0): { status: number; message: string } {
  const end = buf.indexOf(0, at + 4);
  return { status: buf.readInt32LE(at), message: buf.toString('utf8', at + 4, end < 0 || end > at + ERROR_BYTES ? at + ERROR_BYTES : end) };
}

/**
 * Runs a native call on a koffi worker thread, with its own vl_error as the last argument: the
 * message of a failure is this call's, whatever other calls fail at the same time.
 */
function callAsync(fn: KoffiFunction, args: unknown[]): Promise<void> {
  const errBuf = Buffer.alloc(ERROR_BYTES);
  return new Promise((resolve, reject) => {
    (fn.async as (...a: unknown[]) => void)(...args, errBuf, (err: unknown, status: number) => {
      if (err) reject(new VramlabError('VL_ERR_INTERNAL', `native call failed: ${String(err)}`));
      else if (status !== 0) reject(failure(status, readError(errBuf).message));
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

/** A struct koffi decoded, with its 64-bit fields (bigints) as numbers, nested structs too. */
function numbers<T>(value: unknown): T {
  if (typeof value === 'bigint') return Number(value) as T;
  if (typeof value !== 'object' || value === null) return value as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = numbers(v);
  return out as T;
}

/** Reads a struct out-parameter: `call` fills the object it is given. */
function readStruct<K extends StructName>(call: (out: object) => number): StructOf<K> {
  const out = {};
  check(call(out));
  return numbers<StructOf<K>>(out);
}

/** Reads `n` structs from a buffer an out-parameter array was written into. */
function decodeArray<K extends StructName>(buf: Buffer, name: K, n: number): StructOf<K>[] {
  if (n === 0) return [];
  return (koffi.decode(buf, name, n) as unknown[]).map((v) => numbers<StructOf<K>>(v));
}

export const native = {
  abiVersion(): number {
    return ABI_VERSION;
  },

  runtimeOpen(device: string, options: NativeRuntimeOptions): Handle {
    const out = outHandle();
    // vl_runtime_open has no handle to keep its message on yet; koffi runs async calls on worker
    // threads, so the thread-local vl_last_error() is not ours to read: open synchronously (fast,
    // except CUDA context creation, a one-off).
    check(lib().runtime_open(device, { budget: BigInt(options.budget), host_budget: BigInt(options.host_budget) }, out) as number);
    return handleOf(out);
  },
  runtimeClose(rt: Handle): void {
    check(lib().runtime_close(rt) as number);
  },
  runtimeMemory(rt: Handle): NativeMemoryInfo {
    return readStruct<'vl_memory_info'>((out) => lib().runtime_memory(rt, out) as number);
  },
  runtimeDeviceName(rt: Handle): string {
    const buf = Buffer.alloc(256);
    check(lib().runtime_device_name(rt, buf, buf.length) as number);
    return buf.toString('utf8', 0, buf.indexOf(0));
  },

  /** GB/s of `bytes` copied `reps` times; direction: 0 host to device, 1 device to host, 2 both at once. */
  async runtimeCopyBandwidth(rt: Handle, bytes: number, pinned: boolean, reps: number, direction: number): Promise<number> {
    const out = [0];
    await callAsync(lib().runtime_copy_bandwidth, [rt, BigInt(bytes), pinned ? 1 : 0, reps, direction, out]);
    return out[0] as number;
  },

  /** The bytes the loads running on rt have placed, and place in all (both 0 while none runs); any time. */
  runtimeLoadProgress(rt: Handle): { done: number; total: number } {
    const done = [0];
    const total = [0];
    check(lib().runtime_load_progress(rt, done, total) as number);
    return { done: Number(done[0]), total: Number(total[0]) };
  },
  async modelLoad(rt: Handle, dir: string, options: NativeModelOptions): Promise<Handle> {
    const out = outHandle();
    await callAsync(lib().model_load, [rt, dir, options, out]);
    return handleOf(out);
  },
  async modelSynthetic(rt: Handle, config: NativeModelConfig, seed: number, options: NativeModelOptions): Promise<Handle> {
    const out = outHandle();
    await callAsync(lib().model_synthetic, [rt, config, BigInt(seed), options, out]);
    return handleOf(out);
  },
  /** A model's description on rt (a directory's config.json and safetensors headers, or a synthetic config: nothing is loaded). */
  async modelDescribe(rt: Handle, src: { dir: string } | { config: NativeModelConfig }, options: NativeModelOptions): Promise<NativeModelDescription> {
    const out = {};
    await callAsync('dir' in src ? lib().model_describe : lib().model_describe_synthetic, [rt, 'dir' in src ? src.dir : src.config, options, out]);
    return numbers<NativeModelDescription>(out);
  },
  /** The same for a device this machine need not have (its dtypes, its memory): no runtime. */
  async modelDescribeFor(device: string, memory: number, budget: number, src: { dir: string } | { config: NativeModelConfig }, options: NativeModelOptions): Promise<NativeModelDescription> {
    const out = {};
    await callAsync(lib().model_describe_for, [device, BigInt(memory), BigInt(budget), 'dir' in src ? src.dir : null, 'config' in src ? src.config : null, options, out]);
    return numbers<NativeModelDescription>(out);
  },
  modelInfo(m: Handle): NativeModelInfo {
    return readStruct<'vl_model_info'>((out) => lib().model_info(m, out) as number);
  },
  modelFree(m: Handle): void {
    check(lib().model_free(m) as number);
  },
  modelSetPaging(m: Handle, policy: number): void {
    check(lib().model_set_paging(m, policy) as number);
  },
  modelPagingStats(m: Handle): NativePagingStats {
    return readStruct<'vl_paging_stats'>((out) => lib().model_paging_stats(m, out) as number);
  },
  /** Records [first, first + cap) of the model's paging records, and how many there are. */
  modelPagingEvents(m: Handle, first: number, cap: number): { events: NativePagingEvent[]; total: number } {
    const buf = Buffer.alloc(koffi.sizeof('vl_paging_event') * Math.max(cap, 1));
    const n = [0];
    const total = [0];
    check(lib().model_paging_events(m, BigInt(first), buf, cap, n, total) as number);
    return { events: decodeArray(buf, 'vl_paging_event', n[0] as number), total: Number(total[0]) };
  },

  /** Grows the model's pinned host block store to at least `bytes`: the ms it spent pinning, the bytes it holds. */
  async modelReserveHost(m: Handle, bytes: number): Promise<{ ms: number; bytes: number }> {
    const ms = [0];
    const held = [0];
    await callAsync(lib().model_reserve_host, [m, BigInt(bytes), ms, held]);
    return { ms: ms[0] as number, bytes: Number(held[0]) };
  },
  /** Copies the resident weights to the device again from their pinned host copy: its device ms and bytes. */
  async modelReload(m: Handle): Promise<{ ms: number; bytes: number }> {
    const ms = [0];
    const bytes = [0];
    await callAsync(lib().model_reload, [m, ms, bytes]);
    return { ms: ms[0] as number, bytes: Number(bytes[0]) };
  },
  modelSetScheduler(m: Handle, prefillChunk: number, maxBatch: number): void {
    check(lib().model_set_scheduler(m, { prefill_chunk: prefillChunk, max_batch: maxBatch }) as number);
  },
  /** One batched step of the model's scheduler, on a worker thread. */
  async modelStep(m: Handle): Promise<NativeScheduleStep> {
    const out = {};
    await callAsync(lib().model_step, [m, out]);
    return numbers<NativeScheduleStep>(out);
  },
  /** Records the decode graphs of 1 to maxBatch sessions, on a worker thread; resolves to how many. */
  async modelPrepareScheduler(m: Handle, maxBatch: number): Promise<number> {
    const recorded = [0];
    await callAsync(lib().model_prepare_scheduler, [m, maxBatch, recorded]);
    return recorded[0] as number;
  },
  /**
   * One batched forward: session i appends counts[i] of ids; its last logits into logits (row i).
   * errors[i]: null when session i ran, else the VramlabError that left it out.
   */
  async modelForwardBatch(m: Handle, sessions: Handle[], counts: Int32Array, ids: Int32Array, logits: Float32Array): Promise<{ stats: NativeStepStats; errors: (VramlabError | null)[] }> {
    const out = {};
    const errs = Buffer.alloc(ERROR_BYTES * sessions.length);
    await callAsync(lib().model_forward_batch, [m, sessions, sessions.length, counts, ids, logits, errs, out]);
    const errors = sessions.map((_, i) => {
      const e = readError(errs, i * ERROR_BYTES);
      return e.status === 0 ? null : failure(e.status, e.message);
    });
    return { stats: numbers<NativeStepStats>(out), errors };
  },
  sessionSubmit(s: Handle, ids: Int32Array, newTokens: number): void {
    check(lib().session_submit(s, ids, ids.length, newTokens) as number);
  },
  sessionCancel(s: Handle): void {
    check(lib().session_cancel(s) as number);
  },
  /**
   * The work of sessions[i], and its picked tokens from index from[i] on (what the caller has not read
   * yet); room: at least the sum of new_tokens - from[i], which they never exceed.
   */
  sessionsWork(sessions: Handle[], from: Int32Array, room: number): { info: NativeWorkInfo; tokens: Int32Array; error: string }[] {
    const n = sessions.length;
    if (n === 0) return [];
    const buf = Buffer.alloc(koffi.sizeof('vl_work_info') * n);
    const tokens = new Int32Array(Math.max(room, 0));
    check(lib().sessions_work(sessions, n, from, buf, room > 0 ? tokens : null, room) as number);
    let at = 0;
    return decodeArray(buf, 'vl_work_info', n).map((info, i) => {
      const fresh = Math.max(info.tokens - (from[i] as number), 0);
      const mine = tokens.subarray(at, at + fresh);
      at += fresh;
      return { info, tokens: mine, error: info.status !== 0 ? (lib().session_work_error(sessions[i]) as string) : '' };
    });
  },
  /** The VramlabError of a failed work item. */
  workError(status: number, message: string): VramlabError {
    return failure(status, message);
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
    return readStruct<'vl_session_info'>((out) => lib().session_info(s, out) as number);
  },
  sessionReset(s: Handle): void {
    check(lib().session_reset(s) as number);
  },
  sessionPageOut(s: Handle): void {
    check(lib().session_page_out(s) as number);
  },
  /** Resolves once every block of the session is on the device. */
  sessionPageIn(s: Handle): Promise<void> {
    return callAsync(lib().session_page_in, [s]);
  },
  sessionSetNextUse(s: Handle, key: number): void {
    check(lib().session_set_next_use(s, key) as number);
  },
  sessionSetQuota(s: Handle, blocks: number): void {
    check(lib().session_set_quota(s, blocks) as number);
  },
  sessionLastStep(s: Handle): NativeStepStats {
    return readStruct<'vl_step_stats'>((out) => lib().session_last_step(s, out) as number);
  },
  sessionTimeline(s: Handle, layers: number): NativeLayerTiming[] {
    const buf = Buffer.alloc(koffi.sizeof('vl_layer_timing') * Math.max(layers, 1));
    const n = [0];
    check(lib().session_timeline(s, buf, layers, n) as number);
    return decodeArray(buf, 'vl_layer_timing', Math.min(n[0] as number, layers));
  },
  sessionForward(s: Handle, ids: Int32Array, logitsRows: number, logits: Float32Array | null): Promise<void> {
    return callAsync(lib().session_forward, [s, ids, ids.length, logitsRows, logits]);
  },
  sessionGenerate(s: Handle, ids: Int32Array, maxNew: number, out: Int32Array): Promise<void> {
    return callAsync(lib().session_generate, [s, ids, ids.length, maxNew, out]);
  },

  /** Starts a step with breakpoints; resolves to the layer it paused after, or -1 when it finished. */
  async sessionForwardBreakpoints(s: Handle, ids: Int32Array, logitsRows: number, logits: Float32Array | null, breakpoints: Int32Array, offload: boolean): Promise<number> {
    const paused = [0];
    await callAsync(
      lib().session_forward_breakpoints,
      [s, ids, ids.length, logitsRows, logits, breakpoints.length > 0 ? breakpoints : null, breakpoints.length, offload ? 1 : 0, paused],
    );
    return paused[0] as number;
  },
  /** Resumes the paused step; resolves to the next layer it paused after, or -1 when it finished. */
  async sessionResume(s: Handle, logits: Float32Array | null): Promise<number> {
    const paused = [0];
    await callAsync(lib().session_resume, [s, logits, paused]);
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
    return readStruct<'vl_breakpoint_stats'>((out) => lib().session_breakpoint_stats(s, out) as number);
  },
  /** The logit lens of the paused step: final norm + output head on its last `rows` positions, into out (rows x vocab). */
  sessionLens(s: Handle, rows: number, out: Float32Array): Promise<void> {
    return callAsync(lib().session_lens, [s, rows, out]);
  },
};
