// experiment.ts: the .vlab commands of the vramlab CLI.
//
//   vramlab check FILE...                                    diagnostics; exit 0 when clean, 1 with any
//   vramlab plan FILE [--device cpu|cuda:N]                  the compiled plan as JSON
//   vramlab run FILE [--device cpu|cuda:N] [--out DIR]       runs it: DIR/EXPERIMENT.json and .csv
//
// --device replaces the file's device and selects its `on cpu { ... }` / `on cuda { ... }` settings.
// Ctrl-C during a run stops after the step in progress and writes the rows so far (exit 130).
import { parseArgs } from 'node:util';
import { progressBar } from './progress.js';
import { checkSource, compileSource, DiagnosticsError, formatDiagnostics, readVlabFile } from '../dsl/index.js';
import { isDeviceName } from '../runtime/device.js';
import { VramlabError } from '../runtime/errors.js';
import { writeResultFiles } from '../lab/result-files.js';
import { runPlan } from '../lab/runner.js';

function usage(message: string): VramlabError {
  return new VramlabError('VL_ERR_USAGE', `${message} (see vramlab --help)`);
}

function parse(argv: string[], options: Record<string, { type: 'string' }>) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw usage((e as Error).message.split('\n')[0] ?? 'bad arguments');
  }
}

function checkDevice(device: string | undefined): void {
  if (device !== undefined && !isDeviceName(device)) throw usage(`--device: "${device}" is not cpu or cuda:N`);
}

/** vramlab check FILE...: every file's diagnostics on stderr; the status says whether any. */
function check(argv: string[]): number {
  const { positionals } = parse(argv, {});
  if (positionals.length === 0) throw usage('check needs at least one .vlab file');
  let failed = false;
  for (const file of positionals) {
    let text: string;
    try {
      text = readVlabFile(file);
    } catch (e) {
      if (!(e instanceof VramlabError)) throw e;
      process.stderr.write(`${e.message}\n`);
      failed = true;
      continue;
    }
    const diagnostics = checkSource(text, { file });
    if (diagnostics.length > 0) {
      process.stderr.write(formatDiagnostics(diagnostics) + '\n');
      failed = true;
    } else process.stdout.write(`${file}: ok\n`);
  }
  return failed ? 1 : 0;
}

/** vramlab plan FILE: the plan, as JSON on stdout. */
function plan(argv: string[]): number {
  const { values, positionals } = parse(argv, { device: { type: 'string' } });
  if (positionals.length !== 1) throw usage('plan takes one .vlab file');
  checkDevice(values.device);
  const file = positionals[0] as string;
  process.stdout.write(JSON.stringify(compileSource(readVlabFile(file), { file, device: values.device }), null, 2) + '\n');
  return 0;
}

function fmt(v: unknown): string {
  return typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : String(v);
}

/** vramlab run FILE: runs the plan with a progress bar, writes the result files, prints a summary. */
async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { device: { type: 'string' }, out: { type: 'string' } });
  if (positionals.length !== 1) throw usage('run takes one .vlab file');
  checkDevice(values.device);
  const file = positionals[0] as string;
  const out = values.out ?? 'results';
  const compiled = compileSource(readVlabFile(file), { file, device: values.device });

  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130); // a second Ctrl-C: stop at once
    controller.abort();
    process.stderr.write('\nvramlab: stopping after the step in progress (Ctrl-C again to quit now)\n');
  };
  process.on('SIGINT', onSigint);
  const bar = progressBar();
  let result;
  try {
    result = await runPlan(compiled, { signal: controller.signal, onProgress: (p) => bar.update(p) });
  } finally {
    bar.end();
    process.off('SIGINT', onSigint);
  }
  for (const e of result.experiments) {
    const paths = writeResultFiles(out, e.experiment, e);
    const ok = e.rows.filter((r) => r['status'] === 'ok').length;
    const check = e.check ? `, check ${e.check.pass ? 'passed' : 'FAILED'}${e.check.worst !== null ? ` (worst ${fmt(e.check.worst)})` : ''}` : '';
    const stopped = e.stopped ? ` (stopped: ${e.stopped === 'cancelled' ? 'cancelled' : 'time limit'})` : '';
    process.stdout.write(`${e.experiment}: ${e.rows.length} rows (${ok} ok)${check}${stopped} -> ${paths.json}, ${paths.csv}\n`);
  }
  return result.cancelled ? 130 : 0;
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
