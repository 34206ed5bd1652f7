// result-files.ts: an experiment's results on disk: NAME.json (the whole result: evidence and rows)
// and NAME.csv (the rows, one column per field in the order they first appear).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** One measured row: column name -> a number, string, boolean or null. */
export type ResultRow = Record<string, number | string | boolean | null>;

function csvCell(v: number | string | boolean | null | undefined): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Rows as CSV text with a header line (RFC 4180 quoting; null cells are empty). */
export function rowsToCsv(rows: readonly ResultRow[]): string {
  const columns: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!columns.includes(k)) columns.push(k);
  const lines = [columns.map(csvCell).join(',')];
  for (const r of rows) lines.push(columns.map((c) => csvCell(r[c])).join(','));
  return lines.join('\n') + '\n';
}

/** Writes DIR/NAME.json and DIR/NAME.csv (creating DIR); returns the two paths. */
export function writeResultFiles(dir: string, name: string, result: { rows: readonly ResultRow[] }): { json: string; csv: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, `${name}.json`);
  const csv = join(dir, `${name}.csv`);
  writeFileSync(json, JSON.stringify(result, null, 1) + '\n');
  writeFileSync(csv, rowsToCsv(result.rows));
  return { json, csv };
}
