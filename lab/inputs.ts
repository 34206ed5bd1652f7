// inputs.ts: the seeded inputs of a run: the ids of a prompt given as a token count, and random
// vectors to add to an activation; the same on every run and machine (mulberry32).
import type { AddPlan, PromptPlan } from './plan.js';

/** A seeded 32-bit generator (mulberry32): numbers in [0, 1). */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The ids of a prompt for a model of `vocab` tokens. */
export function promptIds(p: PromptPlan, vocab: number): number[] {
  if ('ids' in p) return p.ids;
  const next = generator(p.seed);
  return Array.from({ length: p.tokens }, () => Math.floor(next() * vocab));
}

/** A seeded random direction of L2 norm `norm` (Gaussian components, Box-Muller). */
export function randomVector(hidden: number, norm: number, seed: number): Float32Array {
  const next = generator(seed);
  const v = new Float32Array(hidden);
  let sum = 0;
  for (let i = 0; i < hidden; i++) {
    const x = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
    v[i] = x;
    sum += x * x;
  }
  const k = norm / Math.sqrt(sum);
  for (let i = 0; i < hidden; i++) v[i] = (v[i] as number) * k;
  return v;
}

/** The vector of an add edit. */
export function addVector(add: AddPlan, hidden: number): Float32Array {
  return 'norm' in add ? randomVector(hidden, add.norm, add.seed) : Float32Array.from(add.values);
}

/**
 * The prompt of the k-th of several sessions: a token-count prompt gets the seed + k (so that the
 * sessions differ, and session 0 has the experiment's prompt); given ids are every session's.
 */
export function sessionPrompt(p: PromptPlan, k: number, vocab: number): number[] {
  return promptIds('ids' in p ? p : { tokens: p.tokens, seed: p.seed + k }, vocab);
}
