// columns.ts: what a results column is called where people read it (table headers, axis titles) and how
// its numbers are written: its unit from the field name's suffix (per_token_ms: "per token (ms)"), byte
// columns in one size unit for the whole column (GB, MB, KB), and size columns side by side in one
// unit for the group, every number of a column in one format, and CSV numbers at 6 significant
// digits; the units and number formats figures pick from their data (sizeUnit, timeUnit, numberFormat).
//
//   columnTitle('peak_vram_gb')                    // "peak VRAM (GB)"
//   columnFormat('budget_bytes', [2e10, 8e10])     // { title: 'budget (GB)', format: (v) => '20.0' ... }

/** Words written as people write them. */
const WORDS: Record<string, string> = {
  vram: 'VRAM', kv: 'KV', h2d: 'H2D', d2d: 'D2D', hbm: 'HBM', p99: 'P99', p50: 'P50', oom: 'OOM', rel: 'rel.', err: 'error', id: 'ID', gpu: 'GPU', cpu: 'CPU',
};

/** Unit suffixes of field names and how a title writes them. */
const UNITS: Record<string, string> = { ms: 'ms', s: 's', gbps: 'GB/s', gb: 'GB', mb: 'MB', pct: '%' };

/** Field names whose title is not its words (run_id is the run's number within its point; bytes, a copy's size, would have no words left once its unit is). */
const TITLES: Record<string, string> = { run_id: 'run', x_floor: '× floor', bytes: 'size', tokens_per_s_bound: 'tokens/s bound' };

function words(parts: readonly string[]): string {
  return parts.map((w) => WORDS[w] ?? w).join(' ');
}

/** True for a column of byte counts (budget_bytes, h2d_bytes_per_token). */
export function isBytesField(field: string): boolean {
  return field.split('_').includes('bytes');
}

/** Bytes per unit of a size column: 1 for byte counts, 1e9 for GB columns (peak_vram_gb); null for other columns. */
function bytesPerValue(field: string): number | null {
  if (isBytesField(field)) return 1;
  return field.endsWith('_gb') ? 1e9 : null;
}

/**
 * A column's title without a size unit, and its unit: "per token", "ms"; for a byte column the unit is
 * null (a size unit is picked from its values); `tokens_per_s` is "tokens/s" without a unit.
 */
function parts(field: string): { name: string; unit: string | null } {
  const fixedTitle = TITLES[field];
  if (fixedTitle) return { name: fixedTitle, unit: null };
  const ws = field.split('_').filter(Boolean);
  if (ws.length >= 3 && ws[ws.length - 2] === 'per' && ws[ws.length - 1] === 's') return { name: `${words(ws.slice(0, -2))}/s`, unit: null };
  const last = ws[ws.length - 1] ?? '';
  if (ws.length > 1 && UNITS[last]) return { name: words(ws.slice(0, -1)), unit: UNITS[last] as string };
  // A unit before "per": decode_ms_per_token is "decode per token (ms)".
  const k = ws.findIndex((w, i) => i > 0 && UNITS[w] !== undefined && ws[i + 1] === 'per');
  if (k > 0) return { name: words(ws.filter((_, i) => i !== k)), unit: UNITS[ws[k] as string] as string };
  return { name: words(ws.filter((w) => w !== 'bytes')), unit: null };
}

/** The unit a size column is written in, from its largest value: GB, MB, KB or bytes. */
export function sizeUnit(maxBytes: number): { unit: string; scale: number } {
  if (maxBytes >= 1e9) return { unit: 'GB', scale: 1e9 };
  if (maxBytes >= 1e6) return { unit: 'MB', scale: 1e6 };
  if (maxBytes >= 1e3) return { unit: 'KB', scale: 1e3 };
  return { unit: 'bytes', scale: 1 };
}

/** The unit a duration is written in, from the largest in milliseconds: s from 1 s up, else ms (`scale`: ms per unit). */
export function timeUnit(maxMs: number): { unit: string; scale: number } {
  return maxMs >= 1000 ? { unit: 's', scale: 1000 } : { unit: 'ms', scale: 1 };
}

/**
 * Numbers read side by side (an axis's labels, a column), written alike: with the decimals that show
 * the largest magnitude to `digits` significant digits (0 to 6), thousands separated.
 *
 *   numberFormat(0.742)(0.541)   // "0.541"        numberFormat(983)(100)   // "100"
 */
export function numberFormat(maxAbs: number, digits = 3): (x: number) => string {
  const decimals = maxAbs > 0 && Number.isFinite(maxAbs) ? Math.max(0, Math.min(6, digits - 1 - Math.floor(Math.log10(maxAbs)))) : 0;
  return (x) => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals }) : String(x));
}

/**
 * A column's title as tables and axes show it: its words and its unit ("prefill (ms)"); a byte column
 * takes `sizeUnit` when given ("budget (GB)"), else its words alone.
 */
export function columnTitle(field: string, sizeUnitName?: string): string {
  const p = parts(field);
  const unit = sizeUnitName !== undefined && bytesPerValue(field) !== null ? sizeUnitName : isBytesField(field) ? null : p.unit;
  return unit ? `${p.name} (${unit})` : p.name;
}

export interface ColumnFormat {
  title: string;
  /** A cell as text: numbers in the column's one format, null empty, other values as they are. */
  format(v: unknown): string;
}

/**
 * The title and number format of one column from its values: size columns (bytes, GB) in one size
 * unit (`size`: the unit of its group, else its own largest value's), integer columns with thousands
 * separators, other numbers at the decimals that show the column's largest value to 4 significant
 * digits, or in exponent form when every value is under 0.001.
 */
export function columnFormat(field: string, values: readonly unknown[], size?: { unit: string; scale: number }): ColumnFormat {
  const nums = numbers(values);
  const maxAbs = Math.max(0, ...nums.map(Math.abs));
  const perValue = bytesPerValue(field);
  const unit = perValue === null ? null : (size ?? (nums.length > 0 ? sizeUnit(maxAbs * perValue) : null));
  const scale = unit ? unit.scale / (perValue as number) : 1;
  const integers = nums.every((x) => Number.isInteger(x / scale));
  const exponent = !integers && maxAbs / scale < 1e-3;
  const plain = numberFormat(integers ? 0 : maxAbs / scale, 4);
  const number = (x: number): string => {
    if (!Number.isFinite(x)) return String(x);
    const y = x / scale;
    if (exponent) return y === 0 ? '0' : y.toExponential(2);
    return plain(y);
  };
  return {
    title: columnTitle(field, unit?.unit),
    format: (v) => (v === null || v === undefined ? '' : typeof v === 'number' ? number(v) : String(v)),
  };
}

const numbers = (values: readonly unknown[]): number[] => values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));

/**
 * The formats of a table's columns (`columns[i]` the values of `fields[i]`): size columns side by
 * side are one group, in the unit of the group's largest value, so that "paged out" and "paged in"
 * read in the same unit.
 */
export function columnFormats(fields: readonly string[], columns: readonly (readonly unknown[])[]): ColumnFormat[] {
  const sizes = new Array<{ unit: string; scale: number } | undefined>(fields.length);
  for (let i = 0; i < fields.length; ) {
    let j = i;
    while (j < fields.length && bytesPerValue(fields[j] as string) !== null) j++;
    if (j === i) {
      i++;
      continue;
    }
    const group = fields.slice(i, j).flatMap((f, k) => numbers(columns[i + k] ?? []).map((v) => Math.abs(v) * (bytesPerValue(f) as number)));
    if (group.length > 0) sizes.fill(sizeUnit(Math.max(...group)), i, j);
    i = j;
  }
  return fields.map((f, i) => columnFormat(f, columns[i] ?? [], sizes[i]));
}

/** A number as a CSV cell: integers in full, others to 6 significant digits (1.75150 is written 1.7515). */
export function csvNumber(x: number): string {
  if (!Number.isFinite(x) || Number.isInteger(x)) return String(x);
  return String(Number(x.toPrecision(6)));
}

/** A count and its noun, singular for one: "1 row", "3 rows", "2 results files". */
export function counted(n: number, noun: string): string {
  return `${n.toLocaleString('en-US')} ${noun}${n === 1 ? '' : 's'}`;
}
