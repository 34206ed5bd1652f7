// frames.ts: results rows as danfojs-node DataFrames, medians over repeated runs, and DataFrames as
// HTML tables (notebooks and the report).
//
//   const df = resultsFrame(results);          // one row per measured row, one column per field
//   df.query(df['placement'].eq('stream'));     // the danfojs API
//   const html = frameHtml(df, { caption: 'streaming' });
import { createRequire } from 'node:module';
import type { DataFrame } from 'danfojs-node';
import type { Results, Row } from './results.js';
import { median } from './stats.js';

/**
 * danfojs-node, loaded on first use: it takes half a second and brings TensorFlow.js, which
 * `import 'vramlab'` should not cost programs that make no DataFrames.
 */
function danfo(): typeof import('danfojs-node') {
  return createRequire(import.meta.url)('danfojs-node') as typeof import('danfojs-node');
}

/** True for a danfojs DataFrame. */
export function isFrame(value: unknown): value is DataFrame {
  return value instanceof danfo().DataFrame;
}

/** A DataFrame cell: rows' nested values (arrays, objects) become JSON text. */
export type Cell = number | string | boolean | null;

function cell(v: unknown): Cell {
  if (v === undefined || v === null) return null;
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  return JSON.stringify(v);
}

/** The columns of rows, in the order they first appear. */
export function columnsOf(rows: readonly Row[]): string[] {
  const seen = new Set<string>();
  for (const row of rows) for (const key of Object.keys(row)) seen.add(key);
  return [...seen];
}

/**
 * Rows as a DataFrame with the union of their columns (a row missing a field gets null there); an
 * empty list gives an empty DataFrame with `columns`, when given.
 */
export function rowsFrame(rows: readonly Row[], columns: string[] = columnsOf(rows)): DataFrame {
  const { DataFrame } = danfo();
  if (rows.length === 0) return new DataFrame([], { columns });
  return new DataFrame(
    rows.map((row) => columns.map((c) => cell(row[c]))),
    { columns },
  );
}

/** A results object's rows as a DataFrame. */
export function resultsFrame(results: Results): DataFrame {
  return rowsFrame(results.rows);
}

/**
 * One row per group of rows with equal `by` columns (in first-seen order): those columns, the median
 * of each metric over the group's runs that measured it (null when none did), `runs` (the rows of the
 * group) and `status` (the statuses of its rows, "ok" when all were).
 *
 *   medians(streaming.rows, ['placement', 'ring_bytes'], ['effective_bandwidth_gbps'])
 */
export function medians(rows: readonly Row[], by: readonly string[], metrics: readonly string[]): Row[] {
  const groups = new Map<string, Row[]>();
  for (const r of rows) {
    const key = JSON.stringify(by.map((c) => r[c] ?? null));
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((group) => {
    const out: Row = {};
    for (const c of by) out[c] = group[0]![c] ?? null;
    for (const m of metrics) {
      const xs = group.map((r) => r[m]).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
      out[m] = xs.length > 0 ? median(xs) : null;
    }
    out['runs'] = group.length;
    out['status'] = [...new Set(group.map((r) => String(r['status'] ?? 'ok')))].join(', ');
    return out;
  });
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

/** A number as a table shows it: integers in full with separators, others to 4 significant digits. */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (Number.isInteger(x)) return x.toLocaleString('en-US');
  if (Math.abs(x) < 1e-3) return x.toExponential(2);
  if (Math.abs(x) >= 1000) return x.toLocaleString('en-US', { maximumFractionDigits: 1 });
  return x.toLocaleString('en-US', { maximumSignificantDigits: 4 });
}

function formatCell(v: unknown): string {
  if (v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v))) return '';
  if (typeof v === 'number') return formatNumber(v);
  return String(v);
}

/** A DataFrame as an HTML table (escaped; numbers right-aligned), for notebooks and the report. */
export function frameHtml(frame: DataFrame, options: { caption?: string } = {}): string {
  const columns = frame.columns;
  const values = frame.values as unknown[][];
  const caption = options.caption ? `<caption>${escapeHtml(options.caption)}</caption>` : '';
  const head = `<tr>${columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr>`;
  const body = values
    .map((row) => `<tr>${row.map((v) => `<td${typeof v === 'number' ? ' class="num"' : ''}>${escapeHtml(formatCell(v))}</td>`).join('')}</tr>`)
    .join('\n');
  return `<table class="vramlab-frame">${caption}\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}
