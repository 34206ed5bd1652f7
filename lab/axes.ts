// axes.ts: a figure's numeric axes from its data: integer ticks for counts (sessions, layers, batch
// sizes), log axes ticked at 1, 2 and 5 x 10^k written as full numbers ("300", not plotly's bare "3"
// between powers of ten), and value ranges that hold every trace, reference line and marker.
import type { LayoutAxis } from 'plotly.js-dist-min';
import { plotHeightPx } from './placement.js';

/** The fewest pixels between two ticks of a log axis (a tick label is 12 px high). */
const TICK_GAP_PX = 24;

/**
 * Ticks for an axis of integers (sessions, layers, batch sizes): each value when there are at most 12,
 * else a whole-number step (1, 2, 5, 10, ...) giving at most 10 ticks.
 */
export function integerTicks(values: readonly number[]): Partial<LayoutAxis> {
  const xs = [...new Set(values)].sort((a, b) => a - b);
  if (xs.length <= 12) return { tickmode: 'array', tickvals: xs, ticktext: xs.map(String) };
  const span = (xs[xs.length - 1] as number) - (xs[0] as number);
  let step = 1;
  for (let k = 0; span / step > 10; k++) step = ([1, 2, 5][k % 3] as number) * 10 ** Math.floor(k / 3);
  return { tickmode: 'linear', tick0: 0, dtick: step, tickformat: 'd' };
}

/** A number in full, as a tick reads: "0.005", "300", "20,000" (no exponent, no SI suffix). */
export function fullNumber(x: number): string {
  return Number(x.toPrecision(12)).toLocaleString('en-US', { maximumFractionDigits: 12 });
}

/** The multiples of `step` from lo to hi (inclusive, in data units), each rounded to 12 digits. */
function multiples(step: number, lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi * (1 + 1e-12); k++) out.push(Number((k * step).toPrecision(12)));
  return out;
}

/** m x 10^k for each mantissa m and every k between lo and hi (in data units). */
function decades(mantissas: readonly number[], lo: number, hi: number, every = 1): number[] {
  const out: number[] = [];
  for (let k = Math.floor(Math.log10(lo)) - 1; k <= Math.ceil(Math.log10(hi)); k++)
    if (k % every === 0) for (const m of mantissas) out.push(Number((m * 10 ** k).toPrecision(12)));
  return out.filter((v) => v >= lo && v <= hi);
}

/**
 * A log axis over `values` (every positive value drawn on it), `lengthPx` long (a y axis's by
 * default): its range with a little room at both ends, and ticks at readable values written in
 * full. The ticks are the first of these sets that has at least three ticks in the range, each
 * TICK_GAP_PX from the next: powers of ten (every 10th, 5th, 2nd decade, then every one), then 1, 2
 * and 5 x 10^k, then multiples of a 1, 2 or 5 x 10^k step (a range under a factor of 5: 1, 2, 3, 4).
 */
export function logAxis(values: readonly number[], lengthPx = plotHeightPx()): Partial<LayoutAxis> {
  const xs = values.filter((v) => Number.isFinite(v) && v > 0);
  if (xs.length === 0) return { type: 'log' };
  const low = Math.log10(Math.min(...xs));
  const high = Math.log10(Math.max(...xs));
  const pad = Math.max(0.05, (high - low) * 0.06);
  const range: [number, number] = [low - pad, high + pad];
  const [lo, hi] = [10 ** range[0], 10 ** range[1]];
  const pxPerDecade = lengthPx / (range[1] - range[0]);
  const spaced = (ticks: readonly number[]) => ticks.every((t, i) => i === 0 || Math.log10(t / (ticks[i - 1] as number)) * pxPerDecade >= TICK_GAP_PX);
  const sets: number[][] = [10, 5, 2, 1].map((every) => decades([1], lo, hi, every));
  sets.push(decades([1, 2, 5], lo, hi));
  const top = Math.floor(Math.log10(hi - lo));
  for (let k = top; k >= top - 2; k--) for (const m of [5, 2, 1]) sets.push(multiples(m * 10 ** k, lo, hi));
  const fitting = sets.filter((s) => s.length >= 2 && spaced(s));
  const ticks = fitting.find((s) => s.length >= 3) ?? fitting[fitting.length - 1] ?? decades([1], lo, hi);
  return { type: 'log', range, autorange: false, tickmode: 'array', tickvals: ticks, ticktext: ticks.map(fullNumber) };
}

/**
 * The range of a linear axis that holds `values` (traces, reference lines, markers): from 0 when
 * the smallest is under half the largest (or negative), else around the values alone, with 8% room.
 */
export function linearRange(values: readonly number[]): [number, number] {
  const xs = values.filter(Number.isFinite);
  if (xs.length === 0) return [0, 1];
  const [min, max] = [Math.min(...xs), Math.max(...xs)];
  const from = min > 0 && min > max / 2 ? min : Math.min(0, min);
  const pad = (max - from) * 0.08 || Math.abs(max) * 0.1 || 1;
  return [from === 0 ? 0 : from - pad, max + pad];
}
