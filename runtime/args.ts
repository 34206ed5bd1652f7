// args.ts: the runtime API's arguments checked where they come in. A value of the wrong type or out of
// range is a VL_ERR_INVALID_ARGUMENT naming it, thrown before anything is allocated or crosses to the
// native library: koffi takes a number where a string belongs as a pointer (the process crashed), cuts
// a string short at a NUL, and an array's length is believed before its elements are read.
import { statSync } from 'node:fs';
import { isDeviceName } from './device.js';
import { shown, VramlabError } from './errors.js';
import { fileExists } from './files.js';
import { nativeConfig } from './describe.js';
import type { NativeModelConfig, NativeModelOptions } from './native.js';
import { parseSyntheticSpec, type SyntheticSpec } from './synthetic.js';
import { type ModelOptions, PAGING_POLICIES, type PagingPolicy, PLACEMENTS } from './types.js';
import { parseSize } from './units.js';

export function invalid(message: string): VramlabError {
  return new VramlabError('VL_ERR_INVALID_ARGUMENT', message);
}

/** A whole number in [min, max] (the C ABI narrows it: checked before it crosses). */
export function checkedInt(v: number, name: string, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw invalid(`${name} must be a whole number from ${min} to ${max}, got ${shown(v)}`);
  return v;
}

/** An options argument: undefined (none) or a plain object. */
export function optionsOf<T extends object>(v: T | undefined, name: string): T | Partial<T> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(`${name} must be an object, got ${shown(v)}`);
  return v;
}

/** An array argument (undefined: none). */
export function listOf<T>(v: readonly T[] | undefined, name: string): readonly T[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw invalid(`${name} must be an array, got ${shown(v)}`);
  return v;
}

/** A callback argument: undefined or a function. */
export function checkCallback(v: unknown, name: string): void {
  if (v !== undefined && typeof v !== 'function') throw invalid(`${name} must be a function, got ${shown(v)}`);
}

/** One of `allowed` (undefined: the default). */
export function oneOf<T extends string>(v: T | undefined, allowed: readonly T[], name: string, dflt: T): T {
  if (v === undefined) return dflt;
  if (!allowed.includes(v)) throw invalid(`${name} must be one of ${allowed.map((a) => `"${a}"`).join(', ')}, got ${shown(v)}`);
  return v;
}

/** A string for the C ABI: a string, with no NUL (C would end it there). */
export function cString(v: unknown, name: string): string {
  if (typeof v !== 'string') throw invalid(`${name} must be a string, got ${shown(v)}`);
  if (v.includes('\0')) throw invalid(`${name} ${JSON.stringify(v)} holds a NUL byte`);
  return v;
}

/** A device name: "cpu" or "cuda:N". */
export function deviceArg(v: unknown): string {
  const device = cString(v, 'device');
  if (!isDeviceName(device)) throw invalid(`device must be "cpu" or "cuda:N" (N a GPU index), got ${shown(device)}`);
  return device;
}

/** The C ABI's token counts are int32. */
const MAX_TOKENS = 2 ** 31 - 1;

/** Token ids, each in the vocabulary: an array or typed array of them, checked before it is copied. */
export function tokenIds(ids: ArrayLike<number>, vocab: number): Int32Array {
  const n = typeof ids === 'object' && ids !== null ? ids.length : undefined;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw invalid(`token ids must be an array of numbers, got ${shown(ids)}`);
  if (n === 0) throw invalid('no token ids given');
  if (n > MAX_TOKENS) throw invalid(`${n} token ids are more than the ${MAX_TOKENS} a step takes`);
  for (let i = 0; i < n; i++) {
    const v = ids[i];
    if (typeof v !== 'number') throw invalid(`token id ${shown(v)} at position ${i} is ${v === undefined ? 'missing' : `a ${typeof v}, not a number`}`);
    if (!Number.isInteger(v) || v < 0 || v >= vocab) throw invalid(`token id ${v} at position ${i} is outside the vocabulary (0..${vocab - 1})`);
  }
  return Int32Array.from(ids);
}

function positiveInt(v: number | undefined, name: string, max = 2 ** 31 - 1): number {
  return v === undefined ? 0 : checkedInt(v, name, 1, max);
}

export function policyIndex(p: PagingPolicy): number {
  const i = PAGING_POLICIES.indexOf(p);
  if (i < 0) throw invalid(`unknown paging policy "${String(p)}" (use ${PAGING_POLICIES.join(', ')})`);
  return i;
}

/** ModelOptions checked and as the C ABI takes them (vl_model_options). */
export function nativeOptions(given: ModelOptions | undefined): NativeModelOptions {
  const options = optionsOf(given, 'the model options');
  const placement = options.placement ?? 'resident';
  if (!PLACEMENTS.includes(placement)) throw invalid(`unknown placement "${String(placement)}" (use ${PLACEMENTS.join(', ')})`);
  if (options.prefetch !== undefined && (!Number.isInteger(options.prefetch) || options.prefetch < 1 || options.prefetch > 2 ** 31 - 1))
    throw invalid(`prefetch must be a positive number of layers up to ${2 ** 31 - 1}, got ${shown(options.prefetch)}`);
  const opts = {
    kv_block_tokens: positiveInt(options.kvBlockTokens, 'kvBlockTokens', 1 << 20),
    placement: PLACEMENTS.indexOf(placement),
    kv_pool_tokens: positiveInt(options.kvPoolTokens, 'kvPoolTokens'),
    prefetch: options.prefetch ?? 0,
    paging: policyIndex(options.paging ?? 'lru'),
    ring_bytes: options.ring === undefined ? 0 : parseSize(options.ring),
  };
  if (options.ring !== undefined && opts.ring_bytes === 0) throw invalid('the ring must be larger than 0');
  return opts;
}

const SHAPE_INTS = ['vocabSize', 'hiddenSize', 'intermediateSize', 'numLayers', 'numHeads', 'numKvHeads', 'headDim', 'maxPositionEmbeddings'] as const;

/** A SyntheticSpec given as an object: its fields of the types parseSyntheticSpec gives them (the native library checks the shape's sense). */
function syntheticSpec(v: object): SyntheticSpec {
  const s = v as Partial<SyntheticSpec>;
  const shape = s.shape as unknown as Record<string, unknown> | undefined;
  if (typeof s.name !== 'string' || typeof shape !== 'object' || shape === null)
    throw invalid('a model source must be a directory, "synthetic:<spec>" or a SyntheticSpec ({ name, shape, seed }, as parseSyntheticSpec gives)');
  checkedInt(s.seed as number, 'the synthetic seed', 0, Number.MAX_SAFE_INTEGER);
  for (const k of SHAPE_INTS) checkedInt(shape[k] as number, `shape.${k}`, 1, 2 ** 31 - 1);
  if (typeof shape['tieWordEmbeddings'] !== 'boolean') throw invalid(`shape.tieWordEmbeddings must be a boolean, got ${shown(shape['tieWordEmbeddings'])}`);
  oneOf(shape['dtype'] as string, ['f32', 'f16', 'bf16'], 'shape.dtype', 'f32');
  for (const k of ['rmsNormEps', 'ropeTheta']) if (typeof shape[k] !== 'number' || !Number.isFinite(shape[k])) throw invalid(`shape.${k} must be a finite number, got ${shown(shape[k])}`);
  return s as SyntheticSpec;
}

/** A model source: a directory (checked to be one) or a synthetic spec, and the model's name. */
export function modelSource(source: string | SyntheticSpec): { dir: string; name: string } | { spec: SyntheticSpec; name: string } {
  if (typeof source === 'string' && !source.startsWith('synthetic:')) {
    const dir = cString(source, 'the model directory');
    if (!fileExists(dir)) throw new VramlabError('VL_ERR_IO', `${dir}: no such model directory`);
    if (!statSync(dir).isDirectory()) throw new VramlabError('VL_ERR_IO', `${dir}: not a directory (a model is a directory with config.json and safetensors)`);
    return { dir, name: dir.replace(/\/+$/, '').split('/').pop() ?? dir };
  }
  if (typeof source !== 'string' && (typeof source !== 'object' || source === null))
    throw invalid(`a model source must be a directory, "synthetic:<spec>" or a SyntheticSpec, got ${shown(source)}`);
  const spec = typeof source === 'string' ? parseSyntheticSpec(source.slice('synthetic:'.length)) : syntheticSpec(source);
  return { spec, name: `synthetic:${spec.name}` };
}

/** A model source as the C ABI's describe calls take it: the directory, or the synthetic shape's config. */
export function nativeSource(src: ReturnType<typeof modelSource>): { dir: string } | { config: NativeModelConfig } {
  return 'dir' in src ? { dir: src.dir } : { config: nativeConfig(src.spec.shape) };
}
