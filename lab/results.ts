// results.ts: the shape of a results file (what bench/*.ts writes under bench/results/, and what an
// experiment run returns) and reading one with one-line errors that name the file.
//
//   { "benchmark": "streaming", "device": "...", "commit": "...", "date": "...", "model": "...",
//     ...evidence of the run (budget_bytes, pinned_h2d_gbps, hbm_floor_ms, timelines, ...),
//     "rows": [ { "placement": "stream", "effective_bandwidth_gbps": 52.1, ... }, ... ] }
import { readFileSync } from 'node:fs';
import { VramlabError } from '../runtime/errors.js';

/** One measured row: scalar values by column name (nested values are allowed and shown as JSON). */
export type Row = Record<string, unknown>;

/** One layer of a pass, as the runtime's per-layer timeline reports it (ms from the pass's start). */
export interface TimelineEntry {
  layer: number;
  copyStartMs: number | null;
  copyEndMs: number | null;
  computeStartMs: number;
  computeEndMs: number;
}

/**
 * A results object: the rows and the evidence of the run. Files may hold more fields (they are kept,
 * and ignored here); the optional ones below are read by the figures when present.
 */
export interface Results {
  /** What was measured: "streaming", "decode", "breakpoints", "copy_bandwidth", "correctness", ... */
  benchmark: string;
  device: string;
  commit: string;
  date?: string;
  model?: string | null;
  /** The model's weight bytes (its size, as the evidence names it). */
  weight_bytes?: number | null;
  driver?: string | null;
  budget_bytes?: number | null;
  /** streaming: the machine's host-to-device bandwidth, probed in the same run. */
  pinned_h2d_gbps?: number | null;
  pageable_h2d_gbps?: number | null;
  /** streaming: the resident run without a budget the placements are checked against. */
  resident_reference?: { latency_ms?: number; peak_vram_gb?: number } | null;
  /** streaming: per placement, per pass ("prefill", "decode_last"), the per-layer timeline. */
  timelines?: Record<string, Record<string, TimelineEntry[]>>;
  /** decode: weight bytes / device-to-device bandwidth, the per-token latency floor. */
  hbm_floor_ms?: number | null;
  /** breakpoints: what pausing costs an uninterrupted pass. */
  pause_overhead_ms?: number | null;
  /** breakpoints: the device time a pause adds between two layers (breakpoint layer done -> the next ready). */
  pause_gap_ms?: number | null;
  /** breakpoints: the uninterrupted pass the pauses are compared with (median; device time since b935b88). */
  uninterrupted_ms?: number | null;
  /** experiment runs: the correctness check of the run, and why it stopped early. */
  check?: { what: string; tolerance: number; pass: boolean; worst: number | null } | null;
  stopped?: string | null;
  rows: Row[];
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

/** The evidence fields, when present, by type ("number" and "object" allow null). */
const EVIDENCE: Record<string, 'string' | 'number' | 'object'> = {
  date: 'string',
  model: 'string',
  weight_bytes: 'number',
  driver: 'string',
  budget_bytes: 'number',
  pinned_h2d_gbps: 'number',
  pageable_h2d_gbps: 'number',
  resident_reference: 'object',
  timelines: 'object',
  hbm_floor_ms: 'number',
  pause_overhead_ms: 'number',
  pause_gap_ms: 'number',
  uninterrupted_ms: 'number',
  check: 'object',
  stopped: 'string',
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
  for (const [key, type] of Object.entries(EVIDENCE)) {
    const x = v[key];
    if (x === undefined || x === null) continue;
    if (type === 'object' ? !isObject(x) : typeof x !== type) fail(`"${key}" must be ${type === 'object' ? 'an object' : `a ${type}`} or null`);
  }
  if (isObject(v['timelines'])) checkTimelines(v['timelines'], fail);
  const fields = ROW_FIELDS[benchmark] ?? {};
  (rows as Row[]).forEach((row, i) => {
    for (const [keys, type] of Object.entries(fields))
      if (!keys.split('|').some((key) => typeof row[key] === type))
        fail(`rows[${i}] of a ${benchmark} result needs ${keys.split('|').map((k) => `"${k}"`).join(' or ')} (a ${type})`);
  });
  return v as unknown as Results;
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
