// experiment.ts: the .vlab commands of the vramlab CLI.
//
//   vramlab check FILE... [--set NAME=VALUE ...] [--json]        diagnostics; exit 0 when clean, 1 with any
//   vramlab plan FILE [--device cpu|cuda:N] [--set ...] [--json]  a summary (--json: the plan, a step a line)
//   vramlab run FILE [--device cpu|cuda:N] [--out DIR] [--set ...] [--json]
//                                                                runs it: a table of each experiment's rows;
//                                                                DIR/EXPERIMENT.json and .csv; exit 0 when no
//                                                                row is an error, 2 when some are, 1 when all are
//
// --json on stdout (the exit statuses stay):
//   check  {"files": [{"file", "ok", "error": null | "why it was not read", "diagnostics": [{"file", "line",
//          "column", "offset", "length", "severity", "code", "message", "hint"?}, ...]}, ...]}
//   plan   the plan
//   run    {"experiments": [{"experiment", "rows", "ok_rows", "check": null | {"what", "tolerance", "pass",
//          "worst"}, "stopped": null | "cancelled" | "time_limit", "json", "csv"}, ...]}  (those that ended;
//          json and csv null where nothing was written)
//
// --device replaces the file's device and selects its `on cpu { ... }` / `on cuda { ... }` settings; --set
// NAME=VALUE replaces a setting (dsl/overrides.ts). Ctrl-C, SIGTERM or SIGHUP during a run stops after the
// step in progress and writes the rows so far (exit 130, 143, 129); rows are appended to the run's own
// DIR/EXPERIMENT.PID.partial.jsonl as they are measured, so a kill keeps them too (lab/result-files.ts).
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { argsError, usage } from './args.js';
import { bytesCount, modelLabel, progressBar } from './progress.js';
import type { Setting } from '../dsl/ast.js';
import { checkSource, compileRunnable, type Diagnostic, DiagnosticsError, formatDiagnostics, parseVlab, readVlabFile, summarizeSource } from '../dsl/index.js';
import { isDeviceName } from '../runtime/device.js';
import { VramlabError } from '../runtime/errors.js';
import { counted } from '../lab/columns.js';
import { prepareOutDir, repairResultFiles, RowLog, type WrittenResults, writeResultFiles } from '../lab/results-folder.js';
import { modelOptions, type RunnablePlan } from '../lab/plan.js';
import { type Describe, planSummary } from './plan-summary.js';
import type { ExperimentResult, ResultRow } from '../lab/results.js';
import { silenceOutput, whenOutputBreaks } from './output.js';
import { resultsTable } from './results-table.js';
import { type LoadProgress, type RunProgress, type RunResult, runSteps } from '../lab/runner.js';

const JSON_FLAG = { json: { type: 'boolean' } } as const;

function parse<O extends Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>>(command: string, argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options: { ...options, ...JSON_FLAG }, allowPositionals: true, strict: true });
  } catch (e) {
    throw argsError(e, command, { ...options, ...JSON_FLAG });
  }
}

function checkDevice(device: string | undefined): void {
  if (device !== undefined && !isDeviceName(device)) throw usage(`--device: "${device}" is not cpu or cuda:N`);
}

/** vramlab check FILE...: every file's diagnostics on stderr (--json: all on stdout); the status says whether any. */
function check(argv: string[]): number {
  const { values, positionals } = parse('check', argv, { set: { type: 'string', multiple: true } });
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
    const diagnostics = checkSource(text, { file, overrides: values.set ?? [] });
    files.push({ file, ok: diagnostics.length === 0, error: null, diagnostics });
    if (values.json) continue;
    if (diagnostics.length > 0) process.stderr.write(formatDiagnostics(diagnostics) + '\n');
    else process.stdout.write(`${file}: ok\n`);
  }
  if (values.json) process.stdout.write(JSON.stringify({ files }) + '\n');
  return files.every((f) => f.ok) ? 0 : 1;
}

/** Writes `text` to stdout, waiting while the pipe is full (a plan of many steps is not held in memory). */
async function write(text: string): Promise<void> {
  if (!process.stdout.write(text)) await once(process.stdout, 'drain');
}

/** The plan as JSON on stdout, a step a line: the same value as JSON.stringify(plan), made as it is written. */
async function writePlanJson(plan: RunnablePlan): Promise<void> {
  await write(`{\n  "file": ${JSON.stringify(plan.file)},\n  "experiments": [`);
  for (const [i, e] of plan.experiments.entries()) {
    const header = JSON.stringify({ ...e, steps: [] }, null, 2).replace(/\n/g, '\n    ');
    const cut = header.lastIndexOf('"steps": []');
    await write(`${i === 0 ? '' : ','}\n    ${header.slice(0, cut)}"steps": [`);
    let first = true;
    for (const step of e.steps) {
      await write(`${first ? '' : ','}\n      ${JSON.stringify(step)}`);
      first = false;
    }
    await write(`\n    ]${header.slice(cut + '"steps": []'.length)}`);
  }
  await write('\n  ]\n}\n');
}

/** A GPU's memory the summary assumes for a plan without a budget on a machine that lacks the GPU. */
const ASSUMED_GPU_BYTES = 80e9;

/**
 * The summary's memory figures for `device`: its own runtime's plan, or, when this machine lacks it,
 * the native planner's for that kind of device (its dtypes), of the load's budget (80 GB without one).
 */
async function plannerFor(device: string): Promise<{ describe: Describe; note: string; release: () => void }> {
  const { Runtime } = await import('../runtime/runtime.js');
  try {
    const rt = await Runtime.open({ device });
    return { describe: (load) => rt.describeModel(load.model, modelOptions(load)), note: '', release: () => rt.dispose() };
  } catch (e) {
    if (!(e instanceof VramlabError) || e.code !== 'VL_ERR_NO_DEVICE') throw e;
    return {
      describe: (load) => Runtime.describeModelFor(load.model, { device, memory: load.budget ?? ASSUMED_GPU_BYTES }, modelOptions(load)),
      note: ` (${device} is not here: planned for its kind of device, of the budget or else ${ASSUMED_GPU_BYTES / 1e9} GB)`,
      release: () => {},
    };
  }
}

/** vramlab plan FILE: a summary of the plan (--json: the plan itself, as JSON) on stdout. */
async function plan(argv: string[]): Promise<number> {
  const { values, positionals } = parse('plan', argv, { device: { type: 'string' }, set: { type: 'string', multiple: true } });
  if (positionals.length !== 1) throw usage('plan takes one .vlab file');
  checkDevice(values.device);
  const file = positionals[0] as string;
  const text = readVlabFile(file);
  const options = { file, device: values.device, overrides: values.set ?? [] };
  const compiled = compileRunnable(text, options);
  if (values.json) await writePlanJson(compiled);
  else await write(await planSummary(compiled, summarizeSource(text, options), plannerFor));
  return 0;
}

function fmt(v: unknown): string {
  return typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : String(v);
}

/** A row that measured something: ok, or out_of_memory (a measured outcome under a budget), not an error. */
const measuredRow = (r: ResultRow) => !String(r['status']).startsWith('error');
const okCount = (e: ExperimentResult) => e.rows.filter((r) => r['status'] === 'ok').length;

function summary(e: ExperimentResult, written: WrittenResults): string {
  const ok = okCount(e);
  const check = e.check ? `, check ${e.check.pass ? 'passed' : 'FAILED'}${e.check.worst !== null ? ` (worst ${fmt(e.check.worst)})` : ''}` : '';
  const stopped = e.stopped ? ` (stopped: ${e.stopped === 'cancelled' ? 'cancelled' : 'time limit'})` : '';
  const kept = written.archived ? `; the earlier results are now ${written.archived}` : '';
  return `${e.experiment}: ${counted(e.rows.length, 'row')} (${ok} ok)${check}${stopped} -> ${written.json}, ${written.csv}${kept}\n`;
}

/** The distinct errors of a result's rows, the most frequent first, a line each (at most `most`). */
function errorLines(e: ExperimentResult, most = 3): string[] {
  const counts = new Map<string, number>();
  for (const r of e.rows) {
    const status = String(r['status']);
    if (status.startsWith('error')) counts.set(status.replace(/^error: /, ''), (counts.get(status.replace(/^error: /, '')) ?? 0) + 1);
  }
  const lines = [...counts].sort((a, b) => b[1] - a[1]).slice(0, most).map(([why, n]) => `  ${counted(n, 'row')}: ${why}`);
  if (counts.size > most) lines.push(`  and ${counted(counts.size - most, 'other error')} (the rows' status says which)`);
  return lines;
}

/** Why an experiment wrote no results file, and its errors. */
function nothingWritten(e: ExperimentResult): string {
  const why = e.rows.length === 0 ? `stopped before its first row${e.stopped === 'time_limit' ? ' (time limit)' : ''}` : `every row failed (${e.rows.length} of ${e.rows.length})`;
  return [`${e.experiment}: no results written: ${why}`, ...errorLines(e)].join('\n') + '\n';
}

/**
 * Every device the plan runs on, opened once before the first step: a device the machine lacks is one
 * line naming where it was asked for (the .vlab file's `device` setting, or --device) and what to do.
 */
async function checkDevices(plan: RunnablePlan, text: string, file: string, flag: string | undefined): Promise<void> {
  const { Runtime } = await import('../runtime/runtime.js');
  const ast = parseVlab(text, file).ast;
  for (const device of new Set(plan.experiments.map((e) => e.device))) {
    try {
      (await Runtime.open({ device })).dispose();
    } catch (e) {
      if (!(e instanceof VramlabError) || e.code !== 'VL_ERR_NO_DEVICE') throw e;
      const why = e.message.replace(`${device}: `, '');
      const name = plan.experiments.find((x) => x.device === device)?.name;
      const exp = ast.experiments.find((x) => x.name === name);
      const onCpu = exp?.items.some((i) => i.kind === 'on' && i.target === 'cpu');
      const fix = `run it with --device cpu${onCpu ? " (the file's on cpu settings)" : ' to use the CPU'}`;
      if (flag !== undefined) throw new VramlabError('VL_ERR_NO_DEVICE', `--device ${device}: ${why}; ${fix}`);
      const setting = exp?.items.find((i): i is Setting => i.kind === 'setting' && i.name === 'device');
      const at = setting ? `${file}:${setting.value.pos.line}:${setting.value.pos.column}: ` : `${file}: `;
      throw new VramlabError('VL_ERR_NO_DEVICE', `${at}device = ${device}: ${why}; ${fix}`);
    }
  }
}

/** The exit status of a run stopped by a signal (SIGPIPE: its stdout broke): 128 + its number. */
const SIGNAL_STATUS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 129, SIGINT: 130, SIGPIPE: 141, SIGTERM: 143 };

/**
 * vramlab run FILE: checks the output folder and the devices, runs the plan with a progress bar,
 * appends each row to OUT/NAME.PID.partial.jsonl as it is measured and, at the end of each experiment
 * with a measured row, writes OUT/NAME.json and .csv (an earlier pair renamed to its date first); prints
 * each experiment's table and a summary. SIGINT (Ctrl-C), SIGTERM or SIGHUP (the terminal closed) stops
 * after the step in progress and writes the rows so far (exit 130, 143, 129); a second one writes them
 * at once and exits.
 */
async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parse('run', argv, { device: { type: 'string' }, out: { type: 'string' }, set: { type: 'string', multiple: true } });
  const ended: { experiment: string; rows: number; ok_rows: number; check: ExperimentResult['check'] | null; stopped: string | null; json: string | null; csv: string | null }[] = [];
  if (positionals.length !== 1) throw usage('run takes one .vlab file');
  checkDevice(values.device);
  const file = positionals[0] as string;
  const out = values.out ?? 'results';
  const text = readVlabFile(file);
  const overrides = values.set ?? [];
  const diagnostics = checkSource(text, { file, overrides });
  if (diagnostics.length > 0) {
    process.stderr.write(formatDiagnostics(diagnostics) + '\n'); // every one check shows, not only the first
    return 1;
  }
  const compiled = compileRunnable(text, { file, device: values.device, overrides });
  prepareOutDir(out); // before the first step: an unwritable --out fails now, not after the run
  for (const note of repairResultFiles(out)) process.stderr.write(`vramlab: ${note}\n`);
  await checkDevices(compiled, text, file, values.device);
  const metricsOf = new Map(compiled.experiments.map((e) => [e.name, e.metrics]));

  const controller = new AbortController();
  let current: { result: ExperimentResult; log: RowLog } | null = null;
  let signalled: NodeJS.Signals | null = null;
  /** Writes an experiment's files when it has a measured row; the row log goes either way. */
  const keep = (result: ExperimentResult, log: RowLog): WrittenResults | null => {
    const written = result.rows.some(measuredRow) ? writeResultFiles(out, result.experiment, result) : null;
    log.remove();
    return written;
  };
  const onSignal = (sig: NodeJS.Signals) => {
    if (sig === 'SIGHUP' || sig === 'SIGPIPE') silenceOutput(); // the terminal, or stdout's reader, is gone
    if (controller.signal.aborted) {
      // the second signal: the finished rows go to the result files now, then stop at once
      if (current) {
        current.result.stopped = 'cancelled';
        keep(current.result, current.log);
      }
      process.exit(SIGNAL_STATUS[sig] ?? 130);
    }
    signalled = sig;
    controller.abort();
    if (sig === 'SIGINT' || sig === 'SIGTERM') process.stderr.write(`\nvramlab: stopping after the step in progress (${sig === 'SIGINT' ? 'Ctrl-C' : sig} again to quit now)\n`);
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const sig of signals) process.on(sig, onSignal);
  whenOutputBreaks(() => onSignal('SIGPIPE')); // `vramlab run ... | head`: stop, and keep the results
  const bar = progressBar(process.stderr, { timed: true });
  let result: RunResult;
  let failed = 0;
  let measured = 0;
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
        if (measuredRow(ev.row)) measured++;
        else failed++;
      } else if (ev.kind === 'end' && current) {
        const e = ev.result;
        const written = keep(e, current.log);
        current = null;
        bar.end();
        ended.push({ experiment: e.experiment, rows: e.rows.length, ok_rows: okCount(e), check: e.check ?? null, stopped: e.stopped ?? null, json: written?.json ?? null, csv: written?.csv ?? null });
        if (values.json) continue;
        if (!written) {
          process.stderr.write(nothingWritten(e));
          continue;
        }
        process.stdout.write(resultsTable(e, metricsOf.get(e.experiment) ?? []) + summary(e, written));
        const errors = errorLines(e);
        if (errors.length > 0) process.stderr.write(`${e.experiment}: ${counted(e.rows.filter((x) => !measuredRow(x)).length, 'row')} failed:\n${errors.join('\n')}\n`);
      }
    }
  } finally {
    bar.end();
    for (const sig of signals) process.off(sig, onSignal);
    whenOutputBreaks(null);
  }
  if (values.json) process.stdout.write(JSON.stringify({ experiments: ended }) + '\n');
  if (signalled !== null) return SIGNAL_STATUS[signalled] ?? 130;
  if (result.cancelled) return 130;
  const rows = measured + failed;
  if (rows > 0 && measured === 0) {
    process.stderr.write(`vramlab: every row failed (${rows} of ${rows})\n`);
    return 1;
  }
  if (failed > 0) {
    process.stderr.write(`vramlab: ${failed} of ${rows} rows failed\n`);
    return 2;
  }
  return 0;
}

/** Runs check, plan or run (argv[0]); returns the exit status. Diagnostics go to stderr as they are. */
export async function runExperimentCommand(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'check') return check(rest);
    if (command === 'plan') return await plan(rest);
    return await run(rest);
  } catch (e) {
    if (!(e instanceof DiagnosticsError)) throw e;
    process.stderr.write(e.message + '\n');
    return 1;
  }
}
