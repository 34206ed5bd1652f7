// index.ts: the .vlab language as functions: check text or files (diagnostics as data), compile them
// to Plans, and run them on the runtime.
//
//   const diagnostics = checkSource(text, 'streaming.vlab');            // [] when clean
//   const plan = compileSource(text, { file: 'streaming.vlab', device: 'cpu' });
//   const result = await runSource(text, { file: 'streaming.vlab', device: 'cpu', onProgress });
import { dirname, resolve } from 'node:path';
import { checkFile, checkStructure } from './checker.js';
import { compileExperiment } from './compiler.js';
import { type Diagnostic, DiagnosticSink, DiagnosticsError, notTextDiagnostic } from './diagnostics.js';
import { firstNonText } from './text.js';
import { MAX_FILE_BYTES, parseVlab } from './parse.js';
import type { ExperimentPlan, Plan } from '../lab/plan.js';
import { readRegularFile } from '../runtime/files.js';
import { type RunOptions, type RunResult, runPlan } from '../lab/runner.js';

export { type Diagnostic, type DiagnosticCode, DiagnosticsError, formatDiagnostic, formatDiagnostics } from './diagnostics.js';
export { parseVlab } from './parse.js';

export interface SourceOptions {
  /** The file name in diagnostics and in the plan (default "<vlab>"). */
  file?: string;
  /** The folder model directories are relative to (default: the file's folder, or the working directory). */
  baseDir?: string;
}

function baseDirOf(o: SourceOptions): string {
  return o.baseDir ?? (o.file ? dirname(resolve(o.file)) : process.cwd());
}

/** Every diagnostic of a .vlab text (syntax, and checks for each device kind it has settings for), in source order. */
export function checkSource(text: string, options: SourceOptions = {}): Diagnostic[] {
  const file = options.file ?? '<vlab>';
  const parsed = parseVlab(text, file);
  const sink = new DiagnosticSink(file);
  checkFile(parsed.ast, sink, baseDirOf(options));
  // As compileSource: plan and run reject a file with no experiment, so check says so too.
  if (parsed.diagnostics.length === 0 && sink.list().length === 0 && parsed.ast.experiments.length === 0) sink.error({ line: 1, column: 1, offset: 0, length: 0 }, 'missing', 'the file has no experiment', 'write experiment NAME { measure = ... }');
  return [...parsed.diagnostics, ...sink.list()].sort((a, b) => a.offset - b.offset);
}

/** Compiles a .vlab text to a Plan for `device` (default: each experiment's own); DiagnosticsError if it does not check. */
export function compileSource(text: string, options: SourceOptions & { device?: string } = {}): Plan {
  const file = options.file ?? '<vlab>';
  const parsed = parseVlab(text, file);
  if (parsed.diagnostics.length > 0) throw new DiagnosticsError(parsed.diagnostics);
  const sink = new DiagnosticSink(file);
  checkStructure(parsed.ast, sink);
  const experiments: ExperimentPlan[] = [];
  for (const exp of parsed.ast.experiments) {
    const p = compileExperiment(exp, sink, baseDirOf(options), options.device);
    if (p) experiments.push(p);
  }
  const diagnostics = sink.list();
  if (diagnostics.length > 0) throw new DiagnosticsError(diagnostics);
  if (experiments.length === 0) throw new DiagnosticsError([{ file, line: 1, column: 1, offset: 0, length: 0, severity: 'error', code: 'missing', message: 'the file has no experiment', hint: 'write experiment NAME { measure = ... }' }]);
  return { file, experiments };
}

/**
 * Reads a .vlab file as text; a VramlabError naming the file when it cannot, and a DiagnosticsError of
 * one diagnostic ("not a text file", at the first bad byte) when it is not UTF-8 text.
 */
export function readVlabFile(path: string): string {
  // A regular file of at most MAX_FILE_BYTES, checked before it is read; a UTF-8 byte order mark
  // (some editors write one) is not part of the text.
  const bytes = readRegularFile(path, MAX_FILE_BYTES, 'a .vlab file');
  const body = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? bytes.subarray(3) : bytes;
  const bad = firstNonText(body);
  if (bad) throw new DiagnosticsError([notTextDiagnostic(path, bad)]);
  return body.toString('utf8');
}

/** Checks, compiles and runs a .vlab text; the results as runPlan gives them. */
export async function runSource(text: string, options: SourceOptions & RunOptions & { device?: string } = {}): Promise<RunResult> {
  return runPlan(compileSource(text, options), options);
}
