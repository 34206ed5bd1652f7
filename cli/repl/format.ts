// format.ts: how the REPL prints numbers: an activation's statistics (per position or over all), the
// top tokens of a logits row with probabilities, sizes and milliseconds, a plan's result row on a line
// (each value titled and written as tables and the report write its column: lab/columns.ts).
import { columnFormat } from '../../lab/columns.js';
import type { ResultRow } from '../../lab/results.js';
import { formatSize } from '../../runtime/units.js';

export interface ActivationStats {
  rows: number;
  hidden: number;
  mean: number;
  std: number;
  min: number;
  max: number;
  nan: number;
  inf: number;
  /** The L2 norm of each row (position) given. */
  norms: number[];
}

/** Statistics of `rows` of a (tokens x hidden) activation. */
export function activationStats(a: Float32Array, hidden: number, rows: number[]): ActivationStats {
  let n = 0, sum = 0, sq = 0, min = Infinity, max = -Infinity, nan = 0, inf = 0;
  const norms: number[] = [];
  for (const r of rows) {
    let norm = 0;
    for (let c = 0; c < hidden; c++) {
      const v = a[r * hidden + c] as number;
      if (Number.isNaN(v)) nan++;
      else if (!Number.isFinite(v)) inf++;
      else {
        n++;
        sum += v;
        sq += v * v;
        if (v < min) min = v;
        if (v > max) max = v;
      }
      norm += v * v;
    }
    norms.push(Math.sqrt(norm));
  }
  const mean = n ? sum / n : NaN;
  return { rows: rows.length, hidden, mean, std: n ? Math.sqrt(Math.max(0, sq / n - mean * mean)) : NaN, min, max, nan, inf, norms };
}

export function num(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : v.toFixed(4);
}

export function ms(v: number): string {
  return `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`;
}

export { formatSize };

export function formatStats(s: ActivationStats, first: number): string[] {
  const lines = [
    `shape ${s.rows} x ${s.hidden}  mean ${num(s.mean)}  std ${num(s.std)}  min ${num(s.min)}  max ${num(s.max)}  NaN ${s.nan}  Inf ${s.inf}`,
  ];
  const norms = s.norms.map((v, i) => `${first + i}:${num(v)}`);
  lines.push(`L2 norm per position  ${norms.join('  ')}`);
  return lines;
}

export interface TopToken {
  id: number;
  prob: number;
  logit: number;
}

/** The k most likely tokens of a logits row (softmax probabilities). */
export function topTokens(row: Float32Array, k: number): TopToken[] {
  let max = -Infinity;
  for (const v of row) if (v > max) max = v;
  let z = 0;
  for (const v of row) z += Math.exp(v - max);
  const order = Array.from(row.keys()).sort((a, b) => (row[b] as number) - (row[a] as number) || a - b);
  return order.slice(0, k).map((id) => ({ id, logit: row[id] as number, prob: Math.exp((row[id] as number) - max) / z }));
}

export function formatTop(top: TopToken[], text: ((id: number) => string) | null): string[] {
  return top.map((t, i) => `${String(i + 1).padStart(3)}. ${String(t.id).padStart(6)}${text ? `  ${JSON.stringify(text(t.id)).padEnd(12)}` : ''}  p=${t.prob.toFixed(4)}  logit ${num(t.logit)}`);
}

/** A cell of a result row: a missing value or null as "-". */
function cellText(format: (v: unknown) => string, v: unknown): string {
  return v === null || v === undefined ? '-' : format(v);
}

/** One result row on a line: "baseline resume, layer 1, resume (ms) 0.0123, ...". */
export function formatRow(row: ResultRow): string {
  return Object.entries(row)
    .map(([field, v]) => {
      const c = columnFormat(field, [v]);
      return `${c.title} ${cellText(c.format, v)}`;
    })
    .join(', ');
}
