// model-options.ts: what a model load (or a description of one) takes, checked before it crosses the C
// ABI: the ModelOptions as vl_model_options, and the model source, a directory (checked to be one)
// or a synthetic spec, with the model's name.
import { existsSync, statSync } from 'node:fs';
import { nativeConfig } from './describe.js';
import { VramlabError } from './errors.js';
import type { NativeModelConfig, NativeModelOptions } from './native.js';
import { parseSyntheticSpec, type SyntheticSpec } from './synthetic.js';
import { type ModelOptions, PAGING_POLICIES, type PagingPolicy, PLACEMENTS } from './types.js';
import { parseSize } from './units.js';

/** A whole number in [min, max] (the C ABI narrows it: checked before it crosses). */
export function checkedInt(v: number, name: string, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `${name} must be a whole number from ${min} to ${max}, got ${v}`);
  return v;
}

function positiveInt(v: number | undefined, name: string, max = 2 ** 31 - 1): number {
  return v === undefined ? 0 : checkedInt(v, name, 1, max);
}

export function policyIndex(p: PagingPolicy): number {
  const i = PAGING_POLICIES.indexOf(p);
  if (i < 0) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `unknown paging policy "${String(p)}" (use ${PAGING_POLICIES.join(', ')})`);
  return i;
}

/** ModelOptions checked and as the C ABI takes them (vl_model_options). */
export function nativeOptions(options: ModelOptions): NativeModelOptions {
  const placement = options.placement ?? 'resident';
  if (!PLACEMENTS.includes(placement))
    throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `unknown placement "${String(placement)}" (use ${PLACEMENTS.join(', ')})`);
  if (options.prefetch !== undefined && (!Number.isInteger(options.prefetch) || options.prefetch < 1 || options.prefetch > 2 ** 31 - 1))
    throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `prefetch must be a positive number of layers up to ${2 ** 31 - 1}, got ${options.prefetch}`);
  const opts = {
    kv_block_tokens: positiveInt(options.kvBlockTokens, 'kvBlockTokens', 1 << 20),
    placement: PLACEMENTS.indexOf(placement),
    kv_pool_tokens: positiveInt(options.kvPoolTokens, 'kvPoolTokens'),
    prefetch: options.prefetch ?? 0,
    paging: policyIndex(options.paging ?? 'lru'),
    ring_bytes: options.ring === undefined ? 0 : parseSize(options.ring),
  };
  if (options.ring !== undefined && opts.ring_bytes === 0) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', 'the ring must be larger than 0');
  return opts;
}

/** A model source: a directory (checked to be one) or a synthetic spec, and the model's name. */
export function resolveSource(source: string | SyntheticSpec): { dir: string; name: string } | { spec: SyntheticSpec; name: string } {
  if (typeof source === 'string' && !source.startsWith('synthetic:')) {
    if (!existsSync(source)) throw new VramlabError('VL_ERR_IO', `${source}: no such model directory`);
    if (!statSync(source).isDirectory()) throw new VramlabError('VL_ERR_IO', `${source}: not a directory (a model is a directory with config.json and safetensors)`);
    return { dir: source, name: source.replace(/\/+$/, '').split('/').pop() ?? source };
  }
  const spec = typeof source === 'string' ? parseSyntheticSpec(source.slice('synthetic:'.length)) : source;
  return { spec, name: `synthetic:${spec.name}` };
}

/** A resolved source as the C ABI's describe calls take it: the directory, or the synthetic shape's config. */
export function nativeSource(src: ReturnType<typeof resolveSource>): { dir: string } | { config: NativeModelConfig } {
  return 'dir' in src ? { dir: src.dir } : { config: nativeConfig(src.spec.shape) };
}
