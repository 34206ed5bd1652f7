// results-table.ts: an experiment's rows as `vramlab run` prints them on a terminal, as llama-bench
// does: one line per configuration (the repeats of a step averaged), the parameters that vary and the
// metrics the plan keeps, each number at 3 significant digits in a unit chosen for its column's values.
//
//   baseline   sessions  per token (ms)  prefill (ms)  peak VRAM (MB)  token match  runs
//   kv-cache          1            1.23          4.56            1.52  yes             2
//   stateless         1            3.45          4.50            1.52  yes             2
import { columnTitle, sizeUnit } from '../lab/columns.js';
import type { ExperimentResult, ResultRow } from '../lab/results.js';

/** Columns that are neither a parameter nor a metric. */
const BOOKKEEPING = new Set(['run_id', 'status']);

/** A unit for a column's values: its factor from the field's own unit and its name. */
interface Scaled {
  unit: string;
  /** Divide a value by this to write it in `unit`. */
  divisor: number;
}

/** Time units from the field's ms or s, chosen so that the largest value is 1 to 999 where possible. */
function timeUnit(field: string, maxAbs: number): Scaled | null {
  const perMs = field.endsWith('_ms') || field.includes('_ms_') ? 1 : field.endsWith('_s') ? 1000 : null;
  if (perMs === null) return null;
  const ms = maxAbs * perMs;
  if (ms >= 1000) return { unit: 's', divisor: 1000 / perMs };
  if (ms > 0 && ms < 1) return { unit: 'us', divisor: 1e-3 / perMs };
  return { unit: 'ms', divisor: 1 / perMs };
}

/** Size units for byte and GB columns; bandwidths in GB/s stay GB/s unless under 1 (then MB/s). */
function sizeOrRateUnit(field: string, maxAbs: number): Scaled | null {
  const bytesEach = field.split('_').includes('bytes') ? 1 : field.endsWith('_gb') ? 1e9 : null;
  if (bytesEach !== null) {
    const u = sizeUnit(maxAbs * bytesEach);
    return { unit: u.unit, divisor: u.scale / bytesEach };
  }
  if (field.endsWith('_gbps')) return maxAbs > 0 && maxAbs < 1 ? { unit: 'MB/s', divisor: 1e-3 } : { unit: 'GB/s', divisor: 1 };
  return null;
}

/** A number at 3 significant digits, in full (no exponent) from 0.001 up: 1234.5 -> "1,235", 6 -> "6.00", 0.01234 -> "0.0123". */
export function threeDigits(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US');
  if (Math.abs(x) < 1e-3) return x.toExponential(2);
  return x.toPrecision(3);
}

/** The title a column gets with `unit`: its words from columns.ts, the unit in brackets. */
function titled(field: string, unit: string | null): string {
  const base = columnTitle(field).replace(/ \([^)]*\)$/, '');
  return unit ? `${base} (${unit})` : base;
}

interface TableColumn {
  title: string;
  left: boolean;
  cell(rows: readonly ResultRow[]): string;
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** A parameter column: its value in the group (the same in every row of it). */
function parameterColumn(field: string, rows: readonly ResultRow[]): TableColumn {
  const nums = rows.map((r) => r[field]).filter((v): v is number => typeof v === 'number');
  const scaled = sizeOrRateUnit(field, Math.max(0, ...nums.map(Math.abs))) ?? timeUnit(field, Math.max(0, ...nums.map(Math.abs)));
  return {
    title: titled(field, scaled?.unit ?? null),
    left: nums.length === 0,
    cell: (g) => {
      const v = g[0]?.[field];
      if (typeof v === 'number') return scaled ? threeDigits(v / scaled.divisor) : v.toLocaleString('en-US');
      return v === null || v === undefined ? '-' : String(v);
    },
  };
}

/** A metric column: the mean of its numbers over the group's runs, or how many runs were true. */
function metricColumn(field: string, rows: readonly ResultRow[]): TableColumn | null {
  const values = rows.map((r) => r[field]).filter((v) => v !== null && v !== undefined);
  if (values.length === 0) return null;
  if (values.every((v) => typeof v === 'boolean'))
    return {
      title: titled(field, null),
      left: true,
      cell: (g) => {
        const bs = g.map((r) => r[field]).filter((v): v is boolean => typeof v === 'boolean');
        const yes = bs.filter(Boolean).length;
        return bs.length === 0 ? '-' : yes === bs.length ? 'yes' : yes === 0 ? 'no' : `${yes}/${bs.length}`;
      },
    };
  const nums = values.filter((v): v is number => typeof v === 'number');
  if (nums.length === 0) return { title: titled(field, null), left: true, cell: (g) => String(g.find((r) => r[field] !== null && r[field] !== undefined)?.[field] ?? '-') };
  const maxAbs = Math.max(...nums.map(Math.abs));
  const scaled = sizeOrRateUnit(field, maxAbs) ?? timeUnit(field, maxAbs);
  const divisor = scaled?.divisor ?? 1;
  return {
    title: titled(field, scaled?.unit ?? null),
    left: false,
    cell: (g) => {
      const xs = g.map((r) => r[field]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
      return xs.length === 0 ? '-' : threeDigits(mean(xs) / divisor);
    },
  };
}

/** A row's status in a word: ok, out_of_memory, or error (the errors are listed under the table). */
function statusWord(status: unknown): string {
  const s = String(status ?? '');
  return s.startsWith('error') ? 'error' : s;
}

/** The configurations of a result: its rows grouped by everything but the run's number and metrics. */
function groups(rows: readonly ResultRow[], parameters: readonly string[]): ResultRow[][] {
  const out = new Map<string, ResultRow[]>();
  for (const r of rows) {
    const key = JSON.stringify(parameters.map((p) => r[p] ?? null));
    const g = out.get(key);
    if (g) g.push(r);
    else out.set(key, [r]);
  }
  return [...out.values()];
}

/**
 * The rows of an experiment as a text table: a line per configuration; the parameters that vary
 * (every parameter when none does), the plan's metrics, a status column when a row is not ok, and the
 * number of runs when a configuration has more than one. Empty when there are no rows.
 */
export function resultsTable(result: Pick<ExperimentResult, 'rows'>, metrics: readonly string[]): string {
  const rows = result.rows;
  if (rows.length === 0) return '';
  const fields: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!fields.includes(k)) fields.push(k);
  const parameters = fields.filter((f) => !BOOKKEEPING.has(f) && !metrics.includes(f));
  const varying = parameters.filter((p) => new Set(rows.map((r) => JSON.stringify(r[p] ?? null))).size > 1);
  const shown = varying.length > 0 ? varying : parameters.slice(0, 1);
  const grouped = groups(rows, [...parameters, 'status']);
  const columns: TableColumn[] = [
    ...shown.map((p) => parameterColumn(p, rows)),
    ...metrics.filter((m) => fields.includes(m)).flatMap((m) => metricColumn(m, rows.filter((r) => r['status'] === 'ok')) ?? []),
  ];
  if (rows.some((r) => r['status'] !== 'ok')) columns.push({ title: 'status', left: true, cell: (g) => statusWord(g[0]?.['status']) });
  if (grouped.some((g) => g.length > 1)) columns.push({ title: 'runs', left: false, cell: (g) => String(g.length) });
  const cells = grouped.map((g) => columns.map((c) => c.cell(g)));
  const widths = columns.map((c, i) => Math.max(c.title.length, ...cells.map((line) => (line[i] as string).length)));
  const pad = (text: string, i: number) => (columns[i]!.left ? text.padEnd(widths[i] as number) : text.padStart(widths[i] as number));
  const line = (texts: readonly string[]) => texts.map(pad).join('  ').trimEnd();
  return [line(columns.map((c) => c.title)), ...cells.map(line)].join('\n') + '\n';
}
