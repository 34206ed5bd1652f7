// experiment.ts: the .vlab commands of the vramlab CLI.
//
//   vramlab check FILE... [--json]                           diagnostics; exit 0 when clean, 1 with any
//   vramlab plan FILE [--device cpu|cuda:N] [--json]         the compiled plan as JSON
//   vramlab run FILE [--device cpu|cuda:N] [--out DIR] [--json]
//                                                            runs it: DIR/EXPERIMENT.json and .csv; exit 0 when
//                                                            no row is an error, 2 when some are, 1 when all are
//
// --json on stdout (the exit statuses stay):
//   check  {"files": [{"file", "ok", "error": null | "why it was not read", "diagnostics": [{"file", "line",
//          "column", "offset", "length", "severity", "code", "message", "hint"?}, ...]}, ...]}
//   plan   the plan, as without --json
//   run    {"experiments": [{"experiment", "rows", "ok_rows", "check": null | {"what", "tolerance", "pass",
//          "worst"}, "stopped": null | "cancelled" | "time_limit", "json", "csv"}, ...]}  (those that ended)
//
// --device replaces the file's device and selects its `on cpu { ... }` / `on cuda { ... }` settings.
// Ctrl-C (or SIGTERM) during a run stops after the step in progress and writes the rows so far (exit 130,
// 143); rows are appended to DIR/EXPERIMENT.partial.jsonl as they are measured, so a kill keeps them too.
import { parseArgs } from 'node:util';
import { argsError, usage } from './args.js';
import { bytesCount, modelLabel, progressBar } from './progress.js';
import { checkSource, compileSource, type Diagnostic, DiagnosticsError, formatDiagnostics, readVlabFile } from '../dsl/index.js';
import { isDeviceName } from '../runtime/device.js';
import { VramlabError } from '../runtime/errors.js';
import { counted } from '../lab/columns.js';
import { prepareOutDir, RowLog, writeResultFiles } from '../lab/result-files.js';
import type { ExperimentResult } from '../lab/results.js';
import { type LoadProgress, type RunProgress, type RunResult, runSteps } from '../lab/runner.js';

const JSON_FLAG = { json: { type: 'boolean' } } as const;

function parse<O extends Record<string, { type: 'string' | 'boolean' }>>(command: string, argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options: { ...options, ...JSON_FLAG }, allowPositionals: true, strict: true });
  } catch (e) {
    throw argsError(e, command);
  }
}

function checkDevice(device: string | undefined): void {
  if (device !== undefined && !isDeviceName(device)) throw usage(`--device: "${device}" is not cpu or cuda:N`);
}

/** vramlab check FILE...: every file's diagnostics on stderr (--json: all on stdout); the status says whether any. */
function check(argv: string[]): number {
  const { values, positionals } = parse('check', argv, {});
  if (positionals.length === 0) throw usage('check needs at least one .vlab file');
  const files: { file: string; ok: boolean; error: string | null; diagnostics: readonly Diagnostic[] }[] = [];
  for (const file of positionals) {
    let text: string;
    try {
      text = readVlabFile(file);
    } catch (e) {
      if (!(e instanceof VramlabError)) throw e;
      if (!values.json) process.stderr.write(`${e.message}\n`);
      files.push({ file, ok: false, error: e.message, diagnostics: [] });
      continue;
    }
    const diagnostics = checkSource(text, { file });
    files.push({ file, ok: diagnostics.length === 0, error: null, diagnostics });
    if (values.json) continue;
    if (diagnostics.length > 0) process.stderr.write(formatDiagnostics(diagnostics) + '\n');
    else process.stdout.write(`${file}: ok\n`);
  }
  if (values.json) process.stdout.write(JSON.stringify({ files }) + '\n');
  return files.every((f) => f.ok) ? 0 : 1;
}

/** vramlab plan FILE: the plan, as JSON on stdout. */
function plan(argv: string[]): number {
  const { values, positionals } = parse('plan', argv, { device: { type: 'string' } });
  if (positionals.length !== 1) throw usage('plan takes one .vlab file');
  checkDevice(values.device);
  const file = positionals[0] as string;
  process.stdout.write(JSON.stringify(compileSource(readVlabFile(file), { file, device: values.device }), null, 2) + '\n');
  return 0;
}

function fmt(v: unknown): string {
  return typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : String(v);
}

const okCount = (e: ExperimentResult) => e.rows.filter((r) => r['status'] === 'ok').length;

function summary(e: ExperimentResult, paths: { json: string; csv: string }): string {
  const ok = okCount(e);
  const check = e.check ? `, check ${e.check.pass ? 'passed' : 'FAILED'}${e.check.worst !== null ? ` (worst ${fmt(e.check.worst)})` : ''}` : '';
  const stopped = e.stopped ? ` (stopped: ${e.stopped === 'cancelled' ? 'cancelled' : 'time limit'})` : '';
  return `${e.experiment}: ${counted(e.rows.length, 'row')} (${ok} ok)${check}${stopped} -> ${paths.json}, ${paths.csv}\n`;
}

/**
 * vramlab run FILE: checks the output folder, runs the plan with a progress bar, appends each row to
 * OUT/NAME.partial.jsonl as it is measured and writes OUT/NAME.json and .csv (atomically) at the end of
 * each experiment; prints a summary. SIGINT (Ctrl-C) or SIGTERM stops after the step in progress and
 * writes the rows so far (exit 130 or 143); a second one writes them at once and exits.
 */
async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parse('run', argv, { device: { type: 'string' }, out: { type: 'string' } });
  const ended: { experiment: string; rows: number; ok_rows: number; check: ExperimentResult['check'] | null; stopped: string | null; json: string; csv: string }[] = [];
  if (positionals.length !== 1) throw usage('run takes one .vlab file');
  checkDevice(values.device);
  const file = positionals[0] as string;
  const out = values.out ?? 'results';
  const text = readVlabFile(file);
  const diagnostics = checkSource(text, { file });
  if (diagnostics.length > 0) {
    process.stderr.write(formatDiagnostics(diagnostics) + '\n'); // every one check shows, not only the first
    return 1;
  }
  const compiled = compileSource(text, { file, device: values.device });
  prepareOutDir(out); // before the first step: an unwritable --out fails now, not after the run

  const controller = new AbortController();
  let current: { result: ExperimentResult; log: RowLog } | null = null;
  let signalled: NodeJS.Signals | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    const status = sig === 'SIGTERM' ? 143 : 130;
    if (controller.signal.aborted) {
      // the second signal: the finished rows go to the result files now, then stop at once
      if (current) {
        current.result.stopped = 'cancelled';
        writeResultFiles(out, current.result.experiment, current.result);
        current.log.remove();
      }
      process.exit(status);
    }
    signalled = sig;
    controller.abort();
    process.stderr.write(`\nvramlab: stopping after the step in progress (${sig === 'SIGINT' ? 'Ctrl-C' : sig} again to quit now)\n`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const bar = progressBar(process.stderr, { timed: true });
  let result: RunResult;
  let rows = 0;
  let okRows = 0;
  try {
    // A step that loads its model shows the load's bytes after its label, on the same bar.
    let step: RunProgress | null = null;
    const onProgress = (p: RunProgress) => bar.update((step = p));
    const onLoad = (l: LoadProgress) => step && bar.update({ ...step, label: `${step.label}  loading ${modelLabel(l.model)} ${bytesCount(l.done, l.total)}` });
    const events = runSteps(compiled, { signal: controller.signal, onProgress, onLoad });
    for (;;) {
      const r = await events.next();
      if (r.done) {
        result = r.value;
        break;
      }
      const ev = r.value;
      if (ev.kind === 'experiment') current = { result: ev.result, log: new RowLog(out, ev.result.experiment) };
      else if (ev.kind === 'row') {
        current?.log.append(ev.row);
        rows++;
        if (!String(ev.row['status']).startsWith('error')) okRows++; // out_of_memory is a measured outcome (no paging)
      }
      else if (ev.kind === 'end' && current) {
        const paths = writeResultFiles(out, ev.result.experiment, ev.result);
        current.log.remove();
        current = null;
        bar.end();
        const e = ev.result;
        ended.push({ experiment: e.experiment, rows: e.rows.length, ok_rows: okCount(e), check: e.check ?? null, stopped: e.stopped ?? null, ...paths });
        if (!values.json) process.stdout.write(summary(e, paths));
      }
    }
  } finally {
    bar.end();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (values.json) process.stdout.write(JSON.stringify({ experiments: ended }) + '\n');
  if (signalled === 'SIGTERM') return 143;
  if (result.cancelled) return 130;
  if (rows > 0 && okRows === 0) {
    process.stderr.write(`vramlab: every row failed (${rows} of ${rows})\n`);
    return 1;
  }
  if (okRows < rows) {
    process.stderr.write(`vramlab: ${rows - okRows} of ${rows} rows failed\n`);
    return 2;
  }
  return 0;
}

/** Runs check, plan or run (argv[0]); returns the exit status. Diagnostics go to stderr as they are. */
export async function runExperimentCommand(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'check') return check(rest);
    if (command === 'plan') return plan(rest);
    return await run(rest);
  } catch (e) {
    if (!(e instanceof DiagnosticsError)) throw e;
    process.stderr.write(e.message + '\n');
    return 1;
  }
}
