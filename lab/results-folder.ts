// results-folder.ts: the folder a run writes its results into (result-files.ts writes and reads each
// file). No run loses results, whatever stops it:
// - the output folder is checked (created, writable) before a run starts (prepareOutDir);
// - while an experiment runs, each row is appended to its own NAME.PID.partial.jsonl (RowLog: one JSON
//   row a line, so a crash or a kill keeps every finished row; two runs never share one);
// - a run never replaces results: NAME.json and NAME.csv of an earlier run are first renamed to
//   NAME.<its date>.json/.csv (archiveResults), under a lock file so that two runs of one experiment
//   into one folder keep both;
// - NAME.json is the record, written to a temporary name and renamed into place; NAME.csv is derived
//   from it and written the same way after it. A kill between the two leaves a JSON without its CSV
//   (or, between the two renames of an archive, a CSV without its JSON): repairResultFiles, at the
//   start of the next run into the folder, writes the missing CSV from its JSON, puts the stray CSV
//   beside its archived JSON and removes the temporaries of processes that are gone.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { VramlabError } from '../runtime/errors.js';
import { createNewFile, readJsonFile, readTextFile, writeRegularFile } from '../runtime/files.js';
import { ioError, MAX_RESULTS_BYTES, rowsToCsv, writeFileAtomic, writeResultsJson } from './result-files.js';
import type { ResultRow } from './results.js';

/**
 * Makes sure `dir` is a folder this process can write: creates it (and its parents) when missing,
 * then creates and removes a probe file. Throws one-line VL_ERR_IO errors: a path that is a file or
 * lies under one, a folder that cannot be created (/proc/self/nope) or written.
 */
export function prepareOutDir(dir: string): void {
  const missing: string[] = [];
  let at = resolve(dir);
  for (;;) {
    let isDir: boolean;
    try {
      isDir = statSync(at).isDirectory();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw ioError(dir, 'use as the output folder', e);
      const parent = dirname(at);
      if (parent === at) throw ioError(dir, 'create the output folder', e);
      missing.push(at);
      at = parent;
      continue;
    }
    if (!isDir) throw new VramlabError('VL_ERR_IO', `${dir}: cannot use as the output folder (${at === resolve(dir) ? 'it is a file' : `${at} is a file`})`);
    break;
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d); // one level at a time: a recursive mkdir can loop on a path the kernel refuses (/proc)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError(dir, 'create the output folder', e);
    }
  }
  const probe = join(dir, `.vramlab-write-test.${process.pid}`);
  try {
    writeRegularFile(probe, '', { shownAs: dir, doing: 'write in the output folder' });
    rmSync(probe, { force: true });
  } catch (e) {
    throw e instanceof VramlabError ? e : ioError(dir, 'write in the output folder', e);
  }
}

/** The files of one experiment's results in DIR. */
export function resultPaths(dir: string, name: string): { json: string; csv: string } {
  return { json: join(dir, `${name}.json`), csv: join(dir, `${name}.csv`) };
}

/** Whether the process `pid` is alive (a file named after a process that is gone is stale). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Rows appended to DIR/NAME.PID.partial.jsonl as they are measured, one JSON object a line: this run's
 * own file (another run of the same experiment into the same folder has its own).
 */
export class RowLog {
  readonly path: string;
  constructor(dir: string, name: string) {
    let path = join(dir, `${name}.${process.pid}.partial.jsonl`);
    for (let k = 2; !createNewFile(path, ''); k++) path = join(dir, `${name}.${process.pid}-${k}.partial.jsonl`);
    this.path = path;
  }

  append(row: ResultRow): void {
    writeRegularFile(this.path, JSON.stringify(row) + '\n', { append: true, doing: 'append a row' });
  }

  /** The final files are written (or nothing is to be kept): the partial rows are no longer needed. */
  remove(): void {
    rmSync(this.path, { force: true });
  }
}

/** Reads the rows of a NAME.PID.partial.jsonl (a run that was killed); a torn last line is left out. */
export function readRowLog(path: string): ResultRow[] {
  const rows: ResultRow[] = [];
  for (const line of readTextFile(path, MAX_RESULTS_BYTES, 'a partial results file').split('\n')) {
    if (line === '') continue;
    try {
      rows.push(JSON.parse(line) as ResultRow);
    } catch {
      break; // the line being written when the process died
    }
  }
  return rows;
}

/** Waits `ms` milliseconds without returning to the event loop (the commit is a few file renames). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Most time a run waits for another to finish writing the same experiment's files. */
const LOCK_WAIT_MS = 10_000;

/** A lock file (its holder's pid, nothing else) whose holder is gone; false for anything else there (or nothing). */
function isStaleLock(path: string): boolean {
  let text: string;
  try {
    text = readTextFile(path, 64, 'a lock file');
  } catch {
    return false; // gone (its holder finished), or not a lock of ours
  }
  return /^\d+$/.test(text) && !alive(Number(text));
}

/** Runs `body` holding DIR/NAME.lock (created exclusively; one left by a process that is gone is taken over). */
function withLock<T>(dir: string, name: string, body: () => T): T {
  const path = join(dir, `${name}.lock`);
  const t0 = Date.now();
  while (!createNewFile(path, String(process.pid))) {
    if (isStaleLock(path)) rmSync(path, { force: true });
    else if (Date.now() - t0 > LOCK_WAIT_MS) throw new VramlabError('VL_ERR_IO', `${path}: another run has been writing ${name}'s results for ${LOCK_WAIT_MS / 1000} s; remove the file if no run is writing there`);
    else sleepSync(20);
  }
  try {
    return body();
  } finally {
    rmSync(path, { force: true });
  }
}

/** An ISO date as a file name part: 2026-12-07T23:01:02.123Z -> 2026-12-07T23-01-02. */
function dateStamp(date: Date): string {
  return date.toISOString().slice(0, 19).replace(/:/g, '-');
}

/** A results JSON's own date (its "date" field), else the file's modification time; null when unreadable. */
function resultsDate(path: string): Date | null {
  try {
    const v = readJsonFile(path, MAX_RESULTS_BYTES, 'a results file') as { date?: unknown };
    const d = typeof v.date === 'string' ? new Date(v.date) : null;
    if (d && Number.isFinite(d.getTime())) return d;
  } catch {
    // not JSON (a file of the user's): dated by its modification time
  }
  try {
    return statSync(path).mtime;
  } catch {
    return null;
  }
}

/** Archived results of NAME in DIR: NAME.<stamp>.json, newest first. */
function archivedJsons(dir: string, name: string): string[] {
  const prefix = `${name}.`;
  const stamp = /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d(-\d+)?$/;
  return readdirSync(dir)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.json') && stamp.test(f.slice(prefix.length, -'.json'.length)))
    .sort()
    .reverse()
    .map((f) => join(dir, f));
}

/** The CSV of a results JSON, written from its rows when it is missing (a kill between the two writes). */
function ensureCsv(json: string): boolean {
  const csv = json.replace(/\.json$/, '.csv');
  if (existsSync(csv)) return false;
  let value: { benchmark?: unknown; rows?: unknown };
  try {
    value = readJsonFile(json, MAX_RESULTS_BYTES, 'a results file') as typeof value;
  } catch {
    return false; // not a results file: nothing to derive
  }
  if (typeof value?.benchmark !== 'string' || !Array.isArray(value.rows)) return false;
  writeFileAtomic(csv, rowsToCsv(value.rows as ResultRow[]));
  return true;
}

/**
 * Moves the results of an earlier run of NAME out of the way: NAME.json and NAME.csv become
 * NAME.<date of that run>.json/.csv (-2, -3, ... when taken). A CSV without its JSON (a kill between
 * the two renames) joins the newest archived JSON that has none. Returns the archived JSON's path.
 */
function archiveResults(dir: string, name: string): string | null {
  const { json, csv } = resultPaths(dir, name);
  const hasJson = existsSync(json);
  const hasCsv = existsSync(csv);
  if (!hasJson && !hasCsv) return null;
  if (!hasJson) {
    const lonely = archivedJsons(dir, name).find((j) => !existsSync(j.replace(/\.json$/, '.csv')));
    if (lonely) {
      renameOrThrow(csv, lonely.replace(/\.json$/, '.csv'));
      return lonely;
    }
  }
  const stamp = dateStamp(resultsDate(hasJson ? json : csv) ?? new Date());
  let base = join(dir, `${name}.${stamp}`);
  for (let k = 2; existsSync(`${base}.json`) || existsSync(`${base}.csv`); k++) base = join(dir, `${name}.${stamp}-${k}`);
  if (hasJson) renameOrThrow(json, `${base}.json`);
  if (hasCsv) renameOrThrow(csv, `${base}.csv`);
  else ensureCsv(`${base}.json`);
  return `${base}.json`;
}

function renameOrThrow(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (e) {
    throw ioError(from, `keep the earlier results as ${to}`, e);
  }
}

/** What writeResultFiles wrote, and where the results it would have replaced went. */
export interface WrittenResults {
  json: string;
  csv: string;
  /** The earlier run's NAME.json, renamed (null when there was none). */
  archived: string | null;
}

/**
 * Writes DIR/NAME.json, then DIR/NAME.csv, each atomically (DIR checked and created), after moving an
 * earlier run's pair aside; under DIR/NAME.lock, so that concurrent runs of NAME keep every result.
 */
export function writeResultFiles(dir: string, name: string, result: { rows: readonly ResultRow[] }): WrittenResults {
  prepareOutDir(dir);
  const { json, csv } = resultPaths(dir, name);
  return withLock(dir, name, () => {
    const archived = archiveResults(dir, name);
    writeResultsJson(json, result);
    writeFileAtomic(csv, rowsToCsv(result.rows));
    return { json, csv, archived };
  });
}

/**
 * Tidies an output folder before a run: removes the temporaries and locks of processes that are gone,
 * writes the CSV a results JSON lacks, and returns a line for each row log of a run that was killed
 * (its rows are kept where they are).
 */
export function repairResultFiles(dir: string): string[] {
  const notes: string[] = [];
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch (e) {
    throw ioError(dir, 'list the output folder', e);
  }
  for (const f of files) {
    const path = join(dir, f);
    const tmp = /\.(?:json|csv)\.(\d+)\.tmp$/.exec(f) ?? /^\.vramlab-write-test\.(\d+)$/.exec(f);
    const log = /\.(\d+)(?:-\d+)?\.partial\.jsonl$/.exec(f);
    try {
      if (tmp && !alive(Number(tmp[1]))) rmSync(path, { force: true });
      else if (f.endsWith('.lock') && isStaleLock(path)) rmSync(path, { force: true });
      else if (log && !alive(Number(log[1]))) notes.push(`${path}: ${readRowLog(path).length} rows of a run that was stopped before it wrote its results (kept)`);
      else if (f.endsWith('.json') && ensureCsv(path)) notes.push(`${path.replace(/\.json$/, '.csv')}: written from ${f} (a run had stopped between the two)`);
    } catch (e) {
      if (e instanceof VramlabError) throw e;
      throw ioError(path, 'tidy', e);
    }
  }
  return notes;
}

