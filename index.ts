// index.ts: the package's API, `import { ... } from 'vramlab'`: the runtime (runtime/index.ts), the
// .vlab language (dsl/index.ts), and running .vlab text from a notebook cell with the run's progress
// live in the cell (this file: it sits above both layers, as the CLI does).
//
//   const [streaming] = await runFile('../experiments/streaming.vlab', { device: 'cpu' });
//   show(streaming);
import { readVlabFile, runSource, type SourceOptions } from './dsl/index.js';
import { progress, type Progress } from './lab/notebook.js';
import type { ExperimentResult } from './lab/results.js';

export * from './runtime/index.js';
export * from './lab/index.js';
export * from './dsl/index.js';

export interface RunVlabOptions extends SourceOptions {
  /** "cpu" or "cuda:N": runs each experiment's variant for that device (default: each one's own). */
  device?: string;
  /** Aborting stops between two runs and keeps the rows so far. */
  signal?: AbortSignal;
}

/** "streaming: 18 rows (16 ok), check passed" for each experiment. */
function summary(experiments: readonly ExperimentResult[]): string {
  return experiments
    .map((e) => {
      const ok = e.rows.filter((r) => r['status'] === 'ok').length;
      const check = e.check ? `, check ${e.check.pass ? 'passed' : 'FAILED'}` : '';
      return `${e.experiment}: ${e.rows.length} rows (${ok} ok)${check}${e.stopped ? `, stopped (${e.stopped})` : ''}`;
    })
    .join('; ');
}

/**
 * Checks, compiles and runs .vlab text, its progress live in the notebook cell (a line when done,
 * outside one); returns each experiment's results (rows and evidence) for show(), the figures and
 * DataFrames. A text that does not check throws its diagnostics.
 */
export async function run(text: string, options: RunVlabOptions = {}): Promise<ExperimentResult[]> {
  let bar: Progress | null = null;
  const result = await runSource(text, {
    ...options,
    onProgress: (p) => {
      bar ??= progress(options.file ?? 'experiment', p.total);
      bar.update(p.done, p.label);
    },
  });
  (bar as Progress | null)?.done(summary(result.experiments)); // set in the callback, which TypeScript does not follow
  return result.experiments;
}

/** run() on a .vlab file (model directories in it are relative to the file's folder). */
export async function runFile(path: string, options: Omit<RunVlabOptions, 'file'> = {}): Promise<ExperimentResult[]> {
  return run(readVlabFile(path), { ...options, file: path });
}
