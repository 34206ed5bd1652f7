// table.ts: the benchmarks' console tables and their ending. A column is a row field, its header and
// format read off the field's name (`reason_p99_ms` -> "reason p99 ms"; `_bytes` shown in GB, `_gbps`
// in GB/s, `x_` a ratio), or a Column of its own for what a field alone does not say (a ratio to a
// figure of the run). Numbers in a column share one number of decimals: enough for three significant
// digits of its smallest value (relative errors: in exponent form).
import type { Row } from '../lab/results.js';
import { writeResultsJson } from '../lab/result-files.js';

export interface Column {
  header: string;
  /** Left-aligned (names) or right-aligned (numbers, the default). */
  left?: boolean;
  value: (r: Row) => string;
}

const UNITS: [suffix: string, unit: string, scale: number][] = [
  ['_bytes', 'GB', 1e9],
  ['_gbps', 'GB/s', 1],
  ['_gb', 'GB', 1],
  ['_ms', 'ms', 1],
  ['_s', 's', 1],
];

/** Decimals that give the smallest non-zero magnitude among `xs` three significant digits (0 to 3). */
function decimals(xs: number[]): number {
  const small = Math.min(...xs.filter((x) => x !== 0).map(Math.abs));
  if (!Number.isFinite(small) || xs.every(Number.isInteger)) return 0;
  return Math.max(0, Math.min(3, 2 - Math.floor(Math.log10(small))));
}

/** The column of a row field, formatted for the values `rows` hold. */
function fieldColumn(field: string, rows: readonly Row[]): Column {
  const unit = UNITS.find(([suffix]) => field.endsWith(suffix));
  const stem = unit ? field.slice(0, -unit[0].length) : field;
  const header = [stem.replace(/^x_/, 'x ').replace(/_/g, ' '), unit?.[1]].filter(Boolean).join(' ');
  const scale = unit?.[2] ?? 1;
  const numbers = rows.map((r) => r[field]).filter((v): v is number => typeof v === 'number').map((v) => v / scale);
  if (numbers.length === 0) return { header, left: rows.some((r) => typeof r[field] === 'string'), value: (r) => String(r[field] ?? '-') };
  if (field.endsWith('rel_err')) return { header, value: (r) => (typeof r[field] === 'number' ? (r[field] as number).toExponential(2) : '-') };
  const digits = decimals(numbers);
  return { header, value: (r) => (typeof r[field] === 'number' ? ((r[field] as number) / scale).toFixed(digits) : String(r[field] ?? '-')) };
}

/** Prints the table on stdout, a column per field name or Column, each as wide as its widest cell. */
export function printTable(specs: readonly (string | Column)[], rows: readonly Row[]): void {
  const columns = specs.map((c) => (typeof c === 'string' ? fieldColumn(c, rows) : c));
  const cells = rows.map((r) => columns.map((c) => c.value(r)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((line) => (line[i] as string).length)));
  const pad = (text: string, i: number) => (columns[i]!.left ? text.padEnd(widths[i] as number) : text.padStart(widths[i] as number));
  console.log(columns.map((c, i) => pad(c.header, i)).join('  '));
  for (const line of cells) console.log(line.map(pad).join('  '));
}

/** `a / b` of a row's fields to two decimals ("-" when either is missing). */
export function ratio(header: string, a: string, b: string | number): Column {
  return {
    header,
    value: (r) => {
      const to = typeof b === 'number' ? b : r[b];
      return typeof r[a] === 'number' && typeof to === 'number' && Number.isFinite(to) ? ((r[a] as number) / to).toFixed(2) : '-';
    },
  };
}

/**
 * The end of a benchmark: writes the results file (with --out) and names each row that did not run
 * ok on stderr, `what` saying which it is; the exit status is then 1.
 */
export function finish(out: string | undefined, results: object, rows: readonly Row[], what: (r: Row) => string): void {
  if (out) writeResultsJson(out, results);
  for (const r of rows.filter((x) => x['status'] !== 'ok')) {
    console.error(`${what(r)}: ${String(r['status'])}`);
    process.exitCode = 1;
  }
}
