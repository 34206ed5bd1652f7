// index.ts: the .vlab language as functions: check text or files (diagnostics as data), compile them
// to Plans, and run them on the runtime.
//
//   const diagnostics = checkSource(text, 'streaming.vlab');            // [] when clean
//   const plan = compileSource(text, { file: 'streaming.vlab', device: 'cpu' });
//   const result = await runSource(text, { file: 'streaming.vlab', device: 'cpu', onProgress });
import { dirname, resolve } from 'node:path';
import { checkFile, checkStructure, itemsFor, resolveExperiment } from './checker.js';
import { compileExperiment, ownDevice } from './compiler.js';
import { type Diagnostic, DiagnosticSink, DiagnosticsError, notTextDiagnostic, type Position } from './diagnostics.js';
import { settingsOf } from '../lab/registry.js';
import { deviceKind } from '../runtime/device.js';
import { firstNonText } from './text.js';
import { applyOverrides } from './overrides.js';
import { MAX_FILE_BYTES, parseVlab } from './parse.js';
import type { ExperimentPlan, Plan, RunnableExperiment, RunnablePlan } from '../lab/plan.js';
import { readRegularFile } from '../runtime/files.js';
import { type RunOptions, type RunResult, runPlan } from '../lab/runner.js';

export { type Diagnostic, type DiagnosticCode, DiagnosticsError, formatDiagnostic, formatDiagnostics } from './diagnostics.js';
export { parseVlab } from './parse.js';

export interface CompileOptions extends SourceOptions {
  /** The device to compile for (its kind picks the on cpu / on cuda settings); default each experiment's own. */
  device?: string;
}

export interface SourceOptions {
  /** The file name in diagnostics and in the plan (default "<vlab>"). */
  file?: string;
  /** The folder model directories are relative to (default: the file's folder, or the working directory). */
  baseDir?: string;
  /** Settings from the command line, `NAME=VALUE` each, in place of the file's (overrides.ts). */
  overrides?: readonly string[];
}

function baseDirOf(o: SourceOptions): string {
  return o.baseDir ?? (o.file ? dirname(resolve(o.file)) : process.cwd());
}

/** Every diagnostic of a .vlab text (syntax, and checks for each device kind it has settings for), in source order. */
export function checkSource(text: string, options: SourceOptions = {}): Diagnostic[] {
  const file = options.file ?? '<vlab>';
  const parsed = parseVlab(text, file);
  const { file: ast, diagnostics: flags } = applyOverrides(parsed.ast, options.overrides ?? []);
  const sink = new DiagnosticSink(file);
  checkFile(ast, sink, baseDirOf(options));
  // As compileSource: plan and run reject a file with no experiment, so check says so too.
  if (parsed.diagnostics.length === 0 && sink.list().length === 0 && ast.experiments.length === 0) sink.error({ line: 1, column: 1, offset: 0, length: 0 }, 'missing', 'the file has no experiment', 'write experiment NAME { measure = ... }');
  return [...flags, ...[...parsed.diagnostics, ...sink.list()].sort((a, b) => a.offset - b.offset)];
}

/**
 * Compiles a .vlab text to a plan for `device` (default: each experiment's own) whose steps are made as
 * they are read (a sweep of many points is never held whole: what `vramlab plan` and `run` use);
 * DiagnosticsError if it does not check.
 */
export function compileRunnable(text: string, options: CompileOptions = {}): RunnablePlan {
  const file = options.file ?? '<vlab>';
  const parsed = parseVlab(text, file);
  if (parsed.diagnostics.length > 0) throw new DiagnosticsError(parsed.diagnostics);
  const { file: ast, diagnostics: flags } = applyOverrides(parsed.ast, options.overrides ?? []);
  const sink = new DiagnosticSink(file);
  checkStructure(ast, sink);
  const experiments: RunnableExperiment[] = [];
  for (const exp of ast.experiments) {
    const p = compileExperiment(exp, sink, baseDirOf(options), options.device);
    if (p) experiments.push(p);
  }
  const diagnostics = [...flags, ...sink.list()];
  if (diagnostics.length > 0) throw new DiagnosticsError(diagnostics);
  if (experiments.length === 0) throw new DiagnosticsError([{ file, line: 1, column: 1, offset: 0, length: 0, severity: 'error', code: 'missing', message: 'the file has no experiment', hint: 'write experiment NAME { measure = ... }' }]);
  return { file, experiments };
}

/** An experiment as `vramlab plan` summarizes it: what it sets away from the defaults, as written. */
export interface ExperimentSummary {
  name: string;
  /** The baselines it runs (null: the measure has none). */
  baselines: readonly string[] | null;
  sweeps: { name: string; text: string; count: number }[];
  /** Settings set to other than their default, as written (measure, model and device are said elsewhere). */
  settings: { name: string; text: string }[];
}

/** What each experiment of a .vlab text sets, for `device` (default its own); those that do not check are left out. */
export function summarizeSource(text: string, options: CompileOptions = {}): ExperimentSummary[] {
  const file = options.file ?? '<vlab>';
  const { file: ast } = applyOverrides(parseVlab(text, file).ast, options.overrides ?? []);
  const written = (p: Position) => (p.source ? p.source.slice('--set '.length) : text).slice(p.offset, p.offset + p.length);
  const out: ExperimentSummary[] = [];
  for (const exp of ast.experiments) {
    const device = options.device ?? ownDevice(exp);
    const cfg = resolveExperiment(exp, deviceKind(device), new DiagnosticSink(file), baseDirOf(options), device);
    if (!cfg) continue;
    const specs = settingsOf(cfg.measure);
    const items = itemsFor(exp, deviceKind(device));
    const settings: ExperimentSummary['settings'] = [];
    for (const [name, v] of cfg.values) {
      const item = items.get(name);
      if (['measure', 'model', 'device', 'baselines'].includes(name) || item?.kind !== 'setting') continue;
      if (JSON.stringify(v) === JSON.stringify(specs[name]?.default)) continue;
      settings.push({ name, text: written(item.value.pos) });
    }
    const sweeps = cfg.sweeps.map((sw) => {
      const item = items.get(sw.name);
      return { name: sw.name, text: item?.kind === 'sweep' ? written(item.values.pos) : '', count: sw.values.length };
    });
    const baselines = 'baselines' in specs ? ((cfg.values.get('baselines') as readonly string[] | undefined) ?? cfg.measure.baselines) : null;
    out.push({ name: exp.name, baselines, sweeps, settings });
  }
  return out;
}

/** Compiles a .vlab text to a Plan (plain data, its steps in arrays); DiagnosticsError if it does not check. */
export function compileSource(text: string, options: CompileOptions = {}): Plan {
  const plan = compileRunnable(text, options);
  return { file: plan.file, experiments: plan.experiments.map((e): ExperimentPlan => ({ ...e, steps: [...e.steps] })) };
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
export async function runSource(text: string, options: CompileOptions & RunOptions = {}): Promise<RunResult> {
  return runPlan(compileRunnable(text, options), options);
}
