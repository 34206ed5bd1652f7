// generation.ts: what Session.generate needs beyond greedy picks: the options (sampling as
// HuggingFace transformers applies it, stop tokens, a callback per token), a seeded PRNG, and the EOS
// ids of a model directory (generation_config.json, else config.json).
//
//   const pick = sampler({ temperature: 0.8, topK: 40, topP: 0.95, seed: 7 });
//   pick(logits.row(0));   // a token id; the same ids for the same seed and logits
import { randomInt } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VramlabError } from './errors.js';
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

function invalid(message: string): VramlabError {
  return new VramlabError('VL_ERR_INVALID_ARGUMENT', message);
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

/** The options checked; throws VL_ERR_INVALID_ARGUMENT naming the option. */
export function checkGenerateOptions(o: GenerateOptions): void {
  const t = o.temperature;
  if (t !== undefined && !(typeof t === 'number' && Number.isFinite(t) && t >= 0)) throw invalid(`temperature must be a finite number >= 0, got ${String(t)}`);
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 1)) throw invalid(`topK must be a positive integer, got ${String(o.topK)}`);
  if (o.topP !== undefined && !(typeof o.topP === 'number' && o.topP > 0 && o.topP <= 1)) throw invalid(`topP must be a number in (0, 1], got ${String(o.topP)}`);
  if (o.seed !== undefined && !Number.isSafeInteger(o.seed)) throw invalid(`seed must be an integer (at most 2^53 - 1 in size), got ${String(o.seed)}`);
  // Not bounded by the vocabulary: a config's EOS outside it (an id the model never picks) never stops it.
  for (const id of o.stopAt ?? []) if (!Number.isInteger(id) || id < 0) throw invalid(`stopAt: ${String(id)} is not a token id (a non-negative integer)`);
}

/**
 * How the next token is picked from a logits row: the argmax at temperature 0; else, in the order of
 * transformers' logits warpers, logits / temperature, the topK most likely kept, then the most likely
 * whose probabilities reach topP (at least one), and a draw from what is left, renormalized.
 * Ties go to the lower id (as argmax).
 */
export function sampler(o: GenerateOptions): (row: Float32Array) => number {
  const temperature = o.temperature ?? 0;
  if (temperature === 0) return argmax;
  const random = uniform(o.seed ?? randomInt(2 ** 48 - 1));
  return (row) => {
    const n = row.length;
    const k = Math.min(o.topK ?? n, n);
    const topP = o.topP ?? 1;
    // Candidates, most likely first when they must be cut (top-k or top-p); else all, in id order.
    let ids = Array.from({ length: n }, (_, i) => i);
    if (k < n || topP < 1) ids = ids.sort((a, b) => (row[b] as number) - (row[a] as number) || a - b).slice(0, k);
    let max = -Infinity;
    for (const i of ids) max = Math.max(max, row[i] as number);
    const weights = ids.map((i) => Math.exp(((row[i] as number) - max) / temperature));
    let total = weights.reduce((a, w) => a + w, 0);
    if (topP < 1) {
      // transformers' TopPLogitsWarper: a token stays while the probability of those before it is < topP
      let keep = 0, above = 0;
      while (keep < ids.length && (keep === 0 || above < topP * total)) above += weights[keep++] as number;
      ids.length = keep;
      weights.length = keep;
      total = above;
    }
    let u = random() * total;
    for (let j = 0; j < ids.length; j++) {
      u -= weights[j] as number;
      if (u < 0) return ids[j] as number;
    }
    return ids[ids.length - 1] as number; // u rounded to the total
  };
}

function eosOf(path: string, json: Record<string, unknown>): number[] | undefined {
  const v = json['eos_token_id'];
  if (v === undefined) return undefined;
  if (v === null) return [];
  const ids = Array.isArray(v) ? (v as unknown[]) : [v];
  if (!ids.every((id) => typeof id === 'number' && Number.isInteger(id) && id >= 0))
    throw new VramlabError('VL_ERR_FORMAT', `${path}: eos_token_id must be a token id or a list of token ids, got ${JSON.stringify(v)}`);
  return ids as number[];
}

function readJson(path: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new VramlabError('VL_ERR_FORMAT', `${path}: not JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new VramlabError('VL_ERR_FORMAT', `${path}: not a JSON object`);
  return json as Record<string, unknown>;
}

/**
 * A model directory's EOS ids, as transformers finds them: generation_config.json's eos_token_id when
 * the file has one, else config.json's (an id, a list of ids, or none).
 */
export function eosTokenIds(dir: string): number[] {
  const gen = join(dir, 'generation_config.json');
  const fromGen = existsSync(gen) ? eosOf(gen, readJson(gen)) : undefined;
  if (fromGen !== undefined) return fromGen;
  const config = join(dir, 'config.json');
  return eosOf(config, readJson(config)) ?? [];
}
