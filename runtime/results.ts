// results.ts: the shape of a results file (what bench/*.ts writes under bench/results/, and what an
// experiment run returns) and reading one with one-line errors that name the file.
//
//   { "benchmark": "streaming", "device": "...", "commit": "...", "date": "...", "model": "...",
//     ...evidence of the run (budget_bytes, pinned_h2d_gbps, hbm_floor_ms, timelines, ...),
//     "rows": [ { "placement": "stream", "effective_bandwidth_gbps": 52.1, ... }, ... ] }
import { readFileSync } from 'node:fs';
import { VramlabError } from './errors.js';

/** One measured row: scalar values by column name (nested values are allowed and shown as JSON). */
export type Row = Record<string, unknown>;

export interface Results {
  /** What was measured: "streaming", "decode", "breakpoints", "correctness", ... */
  benchmark: string;
  device: string;
  commit: string;
  date?: string;
  model?: string;
  rows: Row[];
  /** The run's evidence and extras, by benchmark (budget_bytes, pinned_h2d_gbps, timelines, ...). */
  [key: string]: unknown;
}

/**
 * The fields naming what each row of a known benchmark ran (its figures group by them), with their
 * types; "a|b" means either field. Measured values may be null or missing: a run that failed (out of
 * memory) has a row too, with its status.
 */
const ROW_FIELDS: Record<string, Record<string, 'string' | 'number'>> = {
  copy_bandwidth: { baseline: 'string', bytes: 'number' },
  streaming: { placement: 'string' },
  decode: { 'system|baseline': 'string' },
  breakpoints: { baseline: 'string', layer: 'number' },
  steering: { layer: 'number' },
  correctness: { model: 'string' },
};

/** The top-level fields of known benchmarks that must be numbers or null when present. */
const TOP_NUMBERS: Record<string, string[]> = {
  streaming: ['pinned_h2d_gbps', 'pageable_h2d_gbps', 'budget_bytes'],
  decode: ['hbm_floor_ms'],
  breakpoints: ['pause_overhead_ms'],
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks that `value` (parsed JSON) is a results object; `source` names it in errors (a file path).
 * Benchmarks other than the known ones pass with the common fields only (they get a table, no figures).
 */
export function checkResults(value: unknown, source: string): Results {
  const fail = (what: string): never => {
    throw new VramlabError('VL_ERR_FORMAT', `${source}: ${what}`);
  };
  if (!isObject(value)) fail('not a vramlab results file (expected a JSON object with "benchmark", "device", "commit" and "rows")');
  const v = value as Record<string, unknown>;
  for (const key of ['benchmark', 'device', 'commit'])
    if (typeof v[key] !== 'string') fail(`not a vramlab results file: "${key}" is ${v[key] === undefined ? 'missing' : 'not a string'} (expected the JSON that bench/*.ts or an experiment run writes)`);
  if (!Array.isArray(v['rows'])) fail(`not a vramlab results file: "rows" is ${v['rows'] === undefined ? 'missing' : 'not an array'}`);
  const benchmark = v['benchmark'] as string;
  const rows = v['rows'] as unknown[];
  rows.forEach((row, i) => {
    if (!isObject(row)) fail(`rows[${i}] is not an object`);
  });
  for (const key of TOP_NUMBERS[benchmark] ?? []) {
    const x = v[key];
    if (!(x === undefined || x === null || typeof x === 'number')) fail(`"${key}" of a ${benchmark} result must be a number or null`);
  }
  const fields = ROW_FIELDS[benchmark] ?? {};
  (rows as Row[]).forEach((row, i) => {
    for (const [keys, type] of Object.entries(fields))
      if (!keys.split('|').some((key) => typeof row[key] === type))
        fail(`rows[${i}] of a ${benchmark} result needs ${keys.split('|').map((k) => `"${k}"`).join(' or ')} (a ${type})`);
  });
  return v as Results;
}

/** Why a file operation failed, in a few words ("no such file", "permission denied", ...). */
export function fileErrorReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EISDIR') return 'is a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return (e as Error).message.replace(/\s+/g, ' ');
}

/** Reads and checks a results file; errors name the file and say what is wrong. */
export function readResults(path: string): Results {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new VramlabError('VL_ERR_IO', `${path}: cannot read (${fileErrorReason(e)})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new VramlabError('VL_ERR_FORMAT', `${path}: not JSON (${(e as Error).message.replace(/\s+/g, ' ')})`);
  }
  return checkResults(value, path);
}
