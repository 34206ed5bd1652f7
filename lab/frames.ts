// frames.ts: results rows as danfojs-node DataFrames, medians over repeated runs, and DataFrames as
// HTML tables (notebooks and the report).
//
//   const df = resultsFrame(results);          // one row per measured row, one column per field
//   df.query(df['placement'].eq('stream'));     // the danfojs API
//   const html = frameHtml(df, { caption: 'streaming' });
import { createRequire } from 'node:module';
import type { DataFrame } from 'danfojs-node';
import { type ColumnFormat, columnFormats } from './columns.js';
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

/** About how many characters wide a table may be before its columns go on into a table of their own. */
const TABLE_CHARS = 120;

/**
 * Columns in parts that fit `width` characters each (a header wraps at its spaces: its longest word
 * counts), the first column (what tells the rows apart: baseline, placement, policy) in every part.
 */
function columnParts(titles: readonly string[], cells: readonly string[][], width: number): number[][] {
  const chars = titles.map((t, i) => Math.max(...t.split(' ').map((w) => w.length), ...cells.map((row) => (row[i] ?? '').length)) + 2);
  const parts: number[][] = [];
  let part: number[] = [0];
  let used = chars[0] ?? 0;
  for (let i = 1; i < titles.length; i++) {
    const w = chars[i] ?? 0;
    if (part.length > 1 && used + w > width) {
      parts.push(part);
      part = [0];
      used = chars[0] ?? 0;
    }
    part.push(i);
    used += w;
  }
  parts.push(part);
  return parts;
}

/**
 * A DataFrame as HTML tables (escaped; numbers right-aligned, each column in one format, its header
 * with its unit, size columns side by side in one unit: lab/columns.ts), for notebooks and the
 * report. A table wider than about 120 characters goes on in further tables, each repeating the first
 * column, so that a static page (a screenshot, a print, an exported notebook) shows every column.
 */
export function frameHtml(frame: DataFrame, options: { caption?: string; width?: number } = {}): string {
  const columns = frame.columns;
  const values = frame.values as unknown[][];
  const formats = columnFormats(columns, columns.map((_, i) => values.map((row) => row[i])));
  const titles = formats.map((f) => f.title);
  const cells = values.map((row) => row.map((v, i) => (typeof v === 'number' && Number.isNaN(v) ? '' : (formats[i] as ColumnFormat).format(v))));
  const parts = columnParts(titles, cells, options.width ?? TABLE_CHARS);
  return parts
    .map((part, p) => {
      const from = p === 0 ? 1 : (part[1] as number) + 1;
      const to = (part[part.length - 1] as number) + 1;
      const range = parts.length === 1 ? '' : from === to ? `column ${from} of ${columns.length}` : `columns ${from}–${to} of ${columns.length}`;
      const text = [options.caption ?? '', range].filter(Boolean).join(', ');
      const caption = text ? `<caption>${escapeHtml(text)}</caption>` : '';
      const head = `<tr>${part.map((i) => `<th>${escapeHtml(titles[i] as string)}</th>`).join('')}</tr>`;
      const body = values
        .map((row, r) => `<tr>${part.map((i) => `<td${typeof row[i] === 'number' ? ' class="num"' : ''}>${escapeHtml(cells[r]?.[i] ?? '')}</td>`).join('')}</tr>`)
        .join('\n');
      return `<table class="vramlab-frame">${caption}\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
    })
    .join('\n');
}
