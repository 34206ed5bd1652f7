// table.ts: the benchmarks' console tables: a header and a line per row, columns padded to a width.
import type { Row } from '../lab/results.js';

export interface Column {
  header: string;
  /** Left-aligned (names) or right-aligned (numbers, the default). */
  left?: boolean;
  value: (r: Row) => string;
}

/** A number field to `digits` decimals ("-" when the row has none); `scale` divides first. */
export function num(field: string, digits: number, scale = 1): (r: Row) => string {
  return (r) => (typeof r[field] === 'number' ? ((r[field] as number) / scale).toFixed(digits) : '-');
}

/** Prints the table on stdout, each column as wide as its widest cell. */
export function printTable(columns: readonly Column[], rows: readonly Row[]): void {
  const cells = rows.map((r) => columns.map((c) => c.value(r)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((line) => (line[i] as string).length)));
  const pad = (text: string, i: number) => (columns[i]!.left ? text.padEnd(widths[i] as number) : text.padStart(widths[i] as number));
  console.log(columns.map((c, i) => pad(c.header, i)).join('  '));
  for (const line of cells) console.log(line.map(pad).join('  '));
}
