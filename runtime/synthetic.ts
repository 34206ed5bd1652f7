// synthetic.ts: synthetic models, named shapes with their real dimensions and seeded random weights
// generated in memory. Spec syntax (after "synthetic:" on the command line):
//
//   NAME[,key=value...]          a named shape, optionally changed: llama-7b,layers=2,dtype=bf16,seed=3
//   key=value[,key=value...]     explicit dimensions: hidden=256,layers=2,heads=4,kv_heads=2,ffn=688,vocab=1000
//
// keys: hidden, layers, heads, kv_heads, head_dim, ffn, vocab, max_pos, rope_theta, eps, tie (0|1),
//       dtype (f16|bf16|f32), seed.
import { VramlabError } from './errors.js';

export type DType = 'f32' | 'f16' | 'bf16';

export interface ModelShape {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  dtype: DType;
  rmsNormEps: number;
  ropeTheta: number;
}

export interface SyntheticSpec {
  name: string;
  shape: ModelShape;
  seed: number;
}

function llama(hidden: number, layers: number, heads: number, kvHeads: number, ffn: number, vocab: number, extra: Partial<ModelShape> = {}): ModelShape {
  return {
    vocabSize: vocab,
    hiddenSize: hidden,
    intermediateSize: ffn,
    numLayers: layers,
    numHeads: heads,
    numKvHeads: kvHeads,
    headDim: hidden / heads,
    maxPositionEmbeddings: 4096,
    tieWordEmbeddings: false,
    dtype: 'f16',
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    ...extra,
  };
}

/** The named shapes, with the dimensions of the published models. */
export const NAMED_SHAPES: Readonly<Record<string, ModelShape>> = {
  tiny: llama(128, 4, 8, 2, 344, 512, { maxPositionEmbeddings: 1024 }),
  'llama-7b': llama(4096, 32, 32, 32, 11008, 32000),
  'llama-13b': llama(5120, 40, 40, 40, 13824, 32000),
  'llama-70b': llama(8192, 80, 64, 8, 28672, 32000),
  'llama-3-8b': llama(4096, 32, 32, 8, 14336, 128256, { ropeTheta: 500000, maxPositionEmbeddings: 8192 }),
  'llama-3-70b': llama(8192, 80, 64, 8, 28672, 128256, { ropeTheta: 500000, maxPositionEmbeddings: 8192 }),
};

const INT_KEYS: Record<string, keyof ModelShape> = {
  hidden: 'hiddenSize',
  layers: 'numLayers',
  heads: 'numHeads',
  kv_heads: 'numKvHeads',
  head_dim: 'headDim',
  ffn: 'intermediateSize',
  vocab: 'vocabSize',
  max_pos: 'maxPositionEmbeddings',
};

const INT32_MAX = 2 ** 31 - 1;

function bad(spec: string, what: string): VramlabError {
  return new VramlabError('VL_ERR_INVALID_ARGUMENT', `synthetic model "${spec}": ${what}`);
}

/** Parses the part after "synthetic:". */
export function parseSyntheticSpec(spec: string): SyntheticSpec {
  const parts = spec.split(',').map((p) => p.trim()).filter((p) => p.length > 0);
  if (parts.length === 0) throw bad(spec, `empty spec; use a name (${Object.keys(NAMED_SHAPES).join(', ')}) or key=value dimensions`);
  let name = 'custom';
  let shape: Partial<ModelShape> = { maxPositionEmbeddings: 4096, tieWordEmbeddings: false, dtype: 'f16', rmsNormEps: 1e-5, ropeTheta: 10000 };
  let seed = 0;
  const first = parts[0] as string;
  if (!first.includes('=')) {
    const named = NAMED_SHAPES[first];
    if (!named) throw bad(spec, `unknown shape "${first}" (known: ${Object.keys(NAMED_SHAPES).join(', ')})`);
    name = first;
    shape = { ...named };
    parts.shift();
  }
  let headDimGiven = false;
  let widthChanged = name === 'custom';
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq < 0) throw bad(spec, `"${part}" must be key=value`);
    const key = part.slice(0, eq);
    const value = part.slice(eq + 1);
    const intKey = INT_KEYS[key];
    if (intKey) {
      const v = Number(value);
      // The ABI's fields are int32: a larger value would wrap (layers=4294967297 gave 1 layer). The
      // native core then bounds each dimension and the sizes derived from them (config.cpp).
      if (!Number.isInteger(v) || v < 1 || v > INT32_MAX) throw bad(spec, `${key} must be a positive integer up to ${INT32_MAX}, got "${value}"`);
      (shape as Record<string, unknown>)[intKey] = v;
      if (key === 'head_dim') headDimGiven = true;
      if (key === 'hidden' || key === 'heads') widthChanged = true;
    } else if (key === 'dtype') {
      if (value !== 'f16' && value !== 'bf16' && value !== 'f32') throw bad(spec, `dtype must be f16, bf16 or f32, got "${value}"`);
      shape.dtype = value;
    } else if (key === 'seed') {
      const v = Number(value);
      if (!Number.isSafeInteger(v) || v < 0) throw bad(spec, `seed must be a non-negative integer, got "${value}"`);
      seed = v;
    } else if (key === 'tie') {
      if (value !== '0' && value !== '1') throw bad(spec, `tie must be 0 or 1, got "${value}"`);
      shape.tieWordEmbeddings = value === '1';
    } else if (key === 'rope_theta' || key === 'eps') {
      const v = Number(value);
      if (!Number.isFinite(v) || v <= 0) throw bad(spec, `${key} must be a finite positive number, got "${value}"`);
      if (key === 'eps') shape.rmsNormEps = v;
      else shape.ropeTheta = v;
    } else {
      throw bad(spec, `unknown key "${key}" (keys: ${[...Object.keys(INT_KEYS), 'dtype', 'seed', 'tie', 'rope_theta', 'eps'].join(', ')})`);
    }
  }
  for (const k of ['hiddenSize', 'numLayers', 'numHeads', 'intermediateSize', 'vocabSize'] as const)
    if (shape[k] === undefined) throw bad(spec, `missing ${Object.keys(INT_KEYS).find((x) => INT_KEYS[x] === k)}=`);
  if (shape.numKvHeads === undefined) shape.numKvHeads = shape.numHeads;
  // head_dim follows hidden / heads unless given (also when a named shape's width is changed).
  if (!headDimGiven && widthChanged) {
    if ((shape.hiddenSize as number) % (shape.numHeads as number) !== 0) throw bad(spec, 'hidden must be a multiple of heads (or give head_dim)');
    shape.headDim = (shape.hiddenSize as number) / (shape.numHeads as number);
  }
  const full = shape as ModelShape;
  if (full.numHeads % full.numKvHeads !== 0) throw bad(spec, `heads (${full.numHeads}) must be a multiple of kv_heads (${full.numKvHeads})`);
  if (full.headDim % 2 !== 0) throw bad(spec, `head_dim (${full.headDim}) must be even`);
  return { name, shape: full, seed };
}

/** Bytes of the weights of a shape. */
export function weightBytes(s: ModelShape): number {
  const el = s.dtype === 'f32' ? 4 : 2;
  const q = s.numHeads * s.headDim;
  const kv = s.numKvHeads * s.headDim;
  const perLayer = 2 * s.hiddenSize + 2 * s.hiddenSize * q + 2 * s.hiddenSize * kv + 3 * s.hiddenSize * s.intermediateSize;
  const embeddings = (s.tieWordEmbeddings ? 1 : 2) * s.vocabSize * s.hiddenSize;
  return el * (s.numLayers * perLayer + embeddings + s.hiddenSize);
}
