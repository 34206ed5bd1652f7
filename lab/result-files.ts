// result-files.ts: one results file on disk. An experiment's results are NAME.json (the whole result:
// evidence and rows) and NAME.csv (the rows, one column per field in the order they first appear),
// each written to a temporary name and renamed into place (a full disk or a kill mid-write leaves the
// file it would replace whole); a results file (what bench/*.ts or a run wrote) is read back with
// one-line errors that name the file, checked against its measure's row and evidence fields. The
// folder a run writes into, and how no run loses results there, is results-folder.ts.
import { renameSync, rmSync } from 'node:fs';
import { VramlabError } from '../runtime/errors.js';
import { fileErrorReason, readJsonFile, writeRegularFile } from '../runtime/files.js';
import { csvNumber } from './columns.js';
import { findMeasure } from './registry.js';
import type { ResultRow, Results, Row } from './results.js';

export { fileErrorReason };

/** The largest results file read (a run's rows; a report's inputs). */
export const MAX_RESULTS_BYTES = 256 * 2 ** 20;

function csvCell(v: number | string | boolean | null | undefined): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'number' ? csvNumber(v) : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Rows as CSV text with a header line (RFC 4180 quoting; numbers at 6 significant digits; null cells are empty). */
export function rowsToCsv(rows: readonly ResultRow[]): string {
  const columns: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!columns.includes(k)) columns.push(k);
  const lines = [columns.map(csvCell).join(',')];
  for (const r of rows) lines.push(columns.map((c) => csvCell(r[c])).join(','));
  return lines.join('\n') + '\n';
}

/** A one-line VL_ERR_IO error: the path, what could not be done and why. */
export function ioError(path: string, what: string, e: unknown): VramlabError {
  return new VramlabError('VL_ERR_IO', `${path}: cannot ${what} (${fileErrorReason(e)})`);
}

/**
 * Writes `text` to `path` through a temporary file in the same folder, renamed over `path` once
 * complete: the old file stays whole when the write fails (full disk) or the process dies mid-way.
 */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeRegularFile(tmp, text, { shownAs: path });
    renameSync(tmp, path);
  } catch (e) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // the temporary name is not a file we can remove (a folder in its place): leave it
    }
    throw e instanceof VramlabError ? e : ioError(path, 'write', e);
  }
}

/** Writes a results object as JSON (what readResults reads; bench/*.ts write theirs so), atomically. */
export function writeResultsJson(path: string, result: object): void {
  writeFileAtomic(path, JSON.stringify(result, null, 1) + '\n');
}

type FieldType = 'string' | 'number' | 'boolean' | 'object';

/** The evidence fields of every results file, when present, by type (each may be null). */
const EVIDENCE: Record<string, FieldType> = {
  date: 'string',
  model: 'string',
  weight_bytes: 'number',
  driver: 'string',
  budget_bytes: 'number',
  check: 'object',
  stopped: 'string',
};

/** The row fields of benchmarks that are no measure (bench/device/correctness.py writes them). */
const OTHER_ROW_FIELDS: Record<string, Record<string, 'string' | 'number'>> = {
  correctness: { model: 'string' },
};

function checkTimelines(timelines: Record<string, unknown>, fail: (what: string) => never): void {
  for (const [placement, passes] of Object.entries(timelines)) {
    if (!isObject(passes)) fail(`timelines.${placement} is not an object of passes`);
    for (const [pass, entries] of Object.entries(passes as Record<string, unknown>)) {
      const ok = Array.isArray(entries) && entries.every((e) => isObject(e) && typeof e['layer'] === 'number' && typeof e['computeStartMs'] === 'number' && typeof e['computeEndMs'] === 'number');
      if (!ok) fail(`timelines.${placement}.${pass} is not a list of {layer, copyStartMs, copyEndMs, computeStartMs, computeEndMs}`);
    }
  }
}

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
  const measure = findMeasure(benchmark);
  for (const [key, type] of Object.entries({ ...EVIDENCE, ...measure?.evidence })) {
    const x = v[key];
    if (x === undefined || x === null) continue;
    if (type === 'object' ? !isObject(x) : typeof x !== type) fail(`"${key}" must be ${type === 'object' ? 'an object' : `a ${type}`} or null`);
  }
  if (isObject(v['timelines'])) checkTimelines(v['timelines'], fail);
  const fields = measure?.rowFields ?? OTHER_ROW_FIELDS[benchmark] ?? {};
  (rows as Row[]).forEach((row, i) => {
    for (const [key, type] of Object.entries(fields)) if (typeof row[key] !== type) fail(`rows[${i}] of a ${benchmark} result needs "${key}" (a ${type})`);
  });
  return v as unknown as Results;
}

/** Reads and checks a results file; errors name the file and say what is wrong. */
export function readResults(path: string): Results {
  return checkResults(readJsonFile(path, MAX_RESULTS_BYTES, 'a results file'), path);
}
