// generation.ts: what Session.generate needs beyond greedy picks: the options (sampling as
// HuggingFace transformers applies it, stop tokens, a callback per token), a seeded PRNG, and the EOS
// ids of a model directory (generation_config.json, else config.json).
//
//   const pick = sampler({ temperature: 0.8, topK: 40, topP: 0.95, seed: 7 });
//   pick(logits.row(0));   // a token id; the same ids for the same seed and logits
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { checkCallback, invalid, listOf } from './args.js';
import { VramlabError } from './errors.js';
import { fileExists, MAX_CONFIG_BYTES, readJsonObject } from './files.js';
import { argmax } from './logits.js';

export interface GenerateOptions {
  /** Divides the logits before sampling; 0 (default): greedy, the argmax (topK, topP and seed unused). */
  temperature?: number;
  /** Sample among the k most likely tokens only (a positive integer; default: all). */
  topK?: number;
  /** Nucleus sampling: among the most likely tokens whose probabilities add up to topP, in (0, 1] (default 1: all). */
  topP?: number;
  /** The PRNG's seed (a safe integer): the same seed, the same tokens; default: a random one. */
  seed?: number;
  /**
   * Token ids that end the generation (Model.eosTokenIds for the model's EOS): the first one picked is
   * the last token returned, as transformers' generate includes the EOS it stops at.
   */
  stopAt?: readonly number[];
  /** Called with each token as it is picked (index: its place among the new tokens). */
  onToken?: (token: number, index: number) => void;
}

const MASK64 = (1n << 64n) - 1n;

/** SplitMix64 (Steele, Lea and Flood; https://prng.di.unimi.it/splitmix64.c): 64-bit outputs from a seed. */
export function splitmix64(seed: bigint): () => bigint {
  let x = BigInt.asUintN(64, seed);
  return () => {
    x = (x + 0x9e3779b97f4a7c15n) & MASK64;
    let z = x;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    return z ^ (z >> 31n);
  };
}

/** xoshiro128** 1.0 (Blackman and Vigna, https://prng.di.unimi.it/xoshiro128starstar.c) on a 4-word state: uint32 outputs. */
export function xoshiro128ss(state: Uint32Array): () => number {
  const s = Uint32Array.from(state);
  const rotl = (v: number, k: number) => (v << k) | (v >>> (32 - k));
  return () => {
    const result = Math.imul(rotl(Math.imul(s[1] as number, 5), 7), 9) >>> 0;
    const t = (s[1] as number) << 9;
    s[2] = (s[2] as number) ^ (s[0] as number);
    s[3] = (s[3] as number) ^ (s[1] as number);
    s[1] = (s[1] as number) ^ (s[2] as number);
    s[0] = (s[0] as number) ^ (s[3] as number);
    s[2] = (s[2] as number) ^ t;
    s[3] = rotl(s[3] as number, 11);
    return result;
  };
}

/**
 * The sampler's PRNG: xoshiro128**, its 128-bit state filled by SplitMix64 from the seed (the seeding
 * its authors recommend); doubles in [0, 1) of 53 random bits, two outputs each (as genrand_res53).
 */
export function uniform(seed: number): () => number {
  const mix = splitmix64(BigInt(seed));
  const a = mix(), b = mix();
  const next = xoshiro128ss(Uint32Array.of(Number(a & 0xffffffffn), Number(a >> 32n), Number(b & 0xffffffffn), Number(b >> 32n)));
  return () => ((next() >>> 5) * 67108864 + (next() >>> 6)) / 9007199254740992;
}

/** The options checked for a model of `vocab` tokens; throws VL_ERR_INVALID_ARGUMENT naming the option. */
export function checkGenerateOptions(o: GenerateOptions, vocab: number): void {
  const t = o.temperature;
  if (t !== undefined && !(typeof t === 'number' && Number.isFinite(t) && t >= 0)) throw invalid(`temperature must be a finite number >= 0, got ${String(t)}`);
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 1)) throw invalid(`topK must be a positive integer, got ${String(o.topK)}`);
  if (o.topP !== undefined && !(typeof o.topP === 'number' && o.topP > 0 && o.topP <= 1)) throw invalid(`topP must be a number in (0, 1], got ${String(o.topP)}`);
  if (o.seed !== undefined && !Number.isSafeInteger(o.seed)) throw invalid(`seed must be an integer (at most 2^53 - 1 in size), got ${String(o.seed)}`);
  checkCallback(o.onToken, 'onToken');
  for (const id of listOf(o.stopAt, 'stopAt')) {
    if (!Number.isInteger(id) || id < 0) throw invalid(`stopAt: ${String(id)} is not a token id (a non-negative integer)`);
    if (id >= vocab) throw invalid(`stopAt: ${id} is outside the vocabulary (0..${vocab - 1}): the model never picks it, so it would never stop`);
  }
}

/**
 * Rearranges `a` so that a[p] holds what an ascending sort puts there, nothing larger before it and
 * nothing smaller after it (Hoare's FIND, as in Wirth's "Algorithms + Data Structures"): O(n) expected.
 */
function select(a: Float32Array, p: number): void {
  let lo = 0, hi = a.length - 1;
  while (lo < hi) {
    const x = a[lo] as number, y = a[(lo + hi) >> 1] as number, z = a[hi] as number;
    const pivot = Math.max(Math.min(x, y), Math.min(Math.max(x, y), z)); // the median of three
    let i = lo, j = hi;
    while (i <= j) {
      while ((a[i] as number) < pivot) i++;
      while ((a[j] as number) > pivot) j--;
      if (i <= j) {
        const t = a[i] as number;
        a[i++] = a[j] as number;
        a[j--] = t;
      }
    }
    if (p <= j) hi = j;
    else if (p >= i) lo = i;
    else return; // a[j + 1 .. i - 1] are all the pivot
  }
}

/** The c largest values of a row, ascending (the j-th largest is at c - 1 - j). */
function largest(row: Float32Array, c: number): Float32Array {
  const a = Float32Array.from(row);
  select(a, row.length - c);
  return a.subarray(row.length - c).sort();
}

/**
 * How the next token is picked from a logits row: the argmax at temperature 0; else, in the order of
 * transformers' logits warpers, logits / temperature, the topK most likely kept, then the most likely
 * whose probabilities reach topP (at least one), and a draw from what is left, renormalized (ties at
 * the cut kept from the lower id, as argmax). The cut comes from the largest values only (a selection,
 * then a sort of those: top-p without top-k takes 64 of them, then 8 times more until they reach p);
 * the draw walks the kept ids in id order.
 */
export function sampler(o: GenerateOptions): (row: Float32Array) => number {
  const temperature = o.temperature ?? 0;
  if (temperature === 0) return argmax;
  const random = uniform(o.seed ?? randomInt(2 ** 48 - 1));
  return (row) => {
    const n = row.length;
    const k = Math.min(o.topK ?? n, n);
    const topP = o.topP ?? 1;
    let max = -Infinity;
    for (let i = 0; i < n; i++) max = Math.max(max, row[i] as number);
    const weight = (v: number) => Math.exp((v - max) / temperature);
    // Kept: the ids above `cut`, and the first `ties` ids equal to it.
    let cut = -Infinity, ties = n;
    if (k < n || topP < 1) {
      let c = topP < 1 && k === n ? Math.min(n, 64) : k;
      let top = largest(row, c);
      const nth = (j: number) => top[c - 1 - j] as number;
      let m = k;
      if (topP < 1) {
        // transformers' TopPLogitsWarper: a token stays while the probability of those before it is < topP
        let total = 0;
        if (k < n) for (let j = 0; j < k; j++) total += weight(nth(j));
        else for (let i = 0; i < n; i++) total += weight(row[i] as number);
        for (;;) {
          let above = 0;
          for (m = 0; m < c && (m === 0 || above < topP * total); m++) above += weight(nth(m));
          if (m < c || c === k) break;
          c = Math.min(k, c * 8);
          top = largest(row, c);
        }
      }
      cut = nth(m - 1);
      let first = m - 1;
      while (first > 0 && nth(first - 1) === cut) first--;
      ties = m - first;
    }
    const weights = new Float64Array(n);
    let total = 0, last = 0;
    for (let i = 0; i < n; i++) {
      const v = row[i] as number;
      if (v > cut || (v === cut && ties-- > 0)) {
        weights[i] = weight(v);
        total += weights[i] as number;
        last = i;
      }
    }
    let u = random() * total;
    for (let i = 0; i < n; i++) if ((weights[i] as number) > 0 && (u -= weights[i] as number) < 0) return i;
    return last; // u rounded to the total
  };
}

/** EOS ids and the file that gave them. */
interface EosIds {
  ids: number[];
  file: string;
}

function eosOf(path: string, json: Record<string, unknown>): EosIds | undefined {
  const v = json['eos_token_id'];
  if (v === undefined) return undefined;
  if (v === null) return { ids: [], file: path };
  const ids = Array.isArray(v) ? (v as unknown[]) : [v];
  if (!ids.every((id) => typeof id === 'number' && Number.isInteger(id) && id >= 0))
    throw new VramlabError('VL_ERR_FORMAT', `${path}: eos_token_id must be a token id or a list of token ids, got ${JSON.stringify(v)}`);
  return { ids: ids as number[], file: path };
}

/**
 * generation_config.json's eos_token_id, when the file has one: read before a model's weights load,
 * so that a bad file fails at once rather than after the load (config.json is the native loader's to
 * check first).
 */
export function generationEos(dir: string): EosIds | undefined {
  const gen = join(dir, 'generation_config.json');
  return fileExists(gen) ? eosOf(gen, readJsonObject(gen, MAX_CONFIG_BYTES, 'a generation_config.json')) : undefined;
}

/**
 * A model directory's EOS ids, as transformers finds them: generation_config.json's eos_token_id when
 * the file has one (`gen`), else config.json's (an id, a list of ids, or none); each inside the
 * vocabulary of `vocab` tokens, as one outside it could never stop a generation.
 */
export function eosTokenIds(dir: string, vocab: number, gen = generationEos(dir)): number[] {
  const config = join(dir, 'config.json');
  const eos = gen ?? eosOf(config, readJsonObject(config, MAX_CONFIG_BYTES, 'a config.json')) ?? { ids: [], file: config };
  const outside = eos.ids.find((id) => id >= vocab);
  if (outside !== undefined)
    throw new VramlabError('VL_ERR_FORMAT', `${eos.file}: eos_token_id ${outside} is outside the vocabulary (0..${vocab - 1}, config.json's vocab_size): generation could never stop at it`);
  return eos.ids;
}
