// stats.ts: the statistics results are summarised with: median, quantiles, the interquartile range,
// the mean, and the relative L2 error that every correctness check compares logits by.
import { VramlabError } from '../runtime/errors.js';

/** The median of numbers (the mean of the two middle ones for an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? Number.NaN : s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** The q-quantile by rank: the value at floor(q * n) of the sorted numbers (no interpolation); NaN for none. */
export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.min(s.length - 1, Math.floor(q * s.length))] as number);
}

/** quantile(), but null for no numbers: a result field with no samples. */
export function quantileOrNull(xs: readonly number[], q: number): number | null {
  return xs.length === 0 ? null : quantile(xs, q);
}

/** The interquartile range: how far apart the middle half of the numbers lie (their noise). */
export function iqr(xs: readonly number[]): number {
  return quantile(xs, 0.75) - quantile(xs, 0.25);
}

/** The mean; null for none. */
export function mean(xs: readonly number[]): number | null {
  return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** ||a - b|| / ||b||: 0 when both are zero, Infinity when only b is. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `relative error of arrays of ${a.length} and ${b.length} values`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += ((a[i] as number) - (b[i] as number)) ** 2;
    den += (b[i] as number) ** 2;
  }
  return den === 0 ? (num === 0 ? 0 : Infinity) : Math.sqrt(num / den);
}
