// runner.ts: runs a Plan (lab/plan.ts; or a RunnablePlan, whose steps are made as they are read): the lifecycle of a run around its measures (lab/measures/):
// models, warm-ups and repeats, progress, cancelling, time limits and the evidence of each experiment
// (device, commit, date, budget, model shape, the correctness check). runSteps() is the run as an async
// iterator of events: a row as each run is measured, and, when asked for, a pause where a step stops
// at a breakpoint (the Paused and its session: read the activation, then continue the iteration to
// resume it), so a REPL or a notebook can step through a plan. runPlan() runs it to the end.
//
//   for await (const ev of runSteps(plan, { pauses: true }))
//     if (ev.kind === 'paused') console.log(ev.step.op, 'paused after layer', ev.paused.layer, ev.paused.activation().length);
//     else if (ev.kind === 'row') console.log(ev.row);
//   const result = await runPlan(plan, { onProgress: (p) => console.log(p.done, '/', p.total, p.label) });
//   result.experiments[0].rows   // [{ baseline: 'kv-cache', run_id: 0, per_token_ms: 3.1, ... }, ...]
//
// Cancelling (an AbortSignal: Ctrl-C in the CLI) or an experiment's time limit stops between runs (or
// the parts of a long run) and keeps the rows so far; a runtime error in a step (out of memory) is
// one row with its status, and the plan goes on.
import type { Paused } from '../runtime/breakpoint.js';
import { VramlabError } from '../runtime/errors.js';
import type { Session } from '../runtime/session.js';
import type { StepPause } from './measure.js';
import type { RunnablePlan, Step } from './plan.js';
import type { ExperimentResult, ResultRow } from './results.js';
import { currentCommit, ExperimentRun, Stop } from './run-context.js';
import { measureNamed } from './registry.js';

export interface RunProgress {
  experiment: string;
  /** Runs done (warm-ups included) and to do, over the whole plan. */
  done: number;
  total: number;
  /** What is running: "decode: decode kv-cache prompt=72 run 2/3". */
  label: string;
}

/** A model's load during a run: the weight bytes placed so far and in all (Runtime.loadModel's onProgress). */
export interface LoadProgress {
  /** The model as the plan names it (a directory or "synthetic:..."). */
  model: string;
  done: number;
  total: number;
}

export interface RunOptions {
  /** Aborting stops the run between two runs (or decode steps) and keeps the rows so far. */
  signal?: AbortSignal;
  onProgress?: (p: RunProgress) => void;
  /** Called about every 100 ms while a step loads its model, and once at the end of the load. */
  onLoad?: (p: LoadProgress) => void;
}

export interface StepOptions extends RunOptions {
  /** Yield a `paused` event where a step pauses at a breakpoint (breakpoints, steering). */
  pauses?: boolean;
}

export interface RunResult {
  file: string;
  experiments: ExperimentResult[];
  /** True when the signal stopped the run (the experiments so far are in `experiments`). */
  cancelled: boolean;
}

/**
 * T's named fields only, without the index signature (Results has one for the fields files may add):
 * reading a field T does not name, a misspelt one, is a compile error.
 */
export type NamedFields<T> = { [K in keyof T as string extends K ? never : K]: T[K] };

/** What a run reports as it goes. */
export type RunEvent =
  /** An experiment starts: its result, which fills in as it runs. */
  | { kind: 'experiment'; result: NamedFields<ExperimentResult> }
  /** A measured run's row (a step that could not run: one row with its status). */
  | { kind: 'row'; experiment: string; step: Step; row: ResultRow }
  /**
   * A run of `step` is paused at a breakpoint, its state held and its edit made, nothing being timed;
   * continuing the iteration resumes it (do not resume or abort it yourself). `run` counts warm-ups.
   */
  | { kind: 'paused'; experiment: string; step: Step; run: number; measured: boolean; paused: Paused; session: Session }
  /** An experiment ended: its check and summary are in; `stopped` says why when it ended early. */
  | { kind: 'end'; result: NamedFields<ExperimentResult> };

function pointLabel(s: Step): string {
  return Object.entries(s.point)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

/** How many runs each step of a plan has: warm-ups and measured runs, or one for a step run once. */
function runsOf(plan: RunnablePlan): number {
  let runs = 0;
  for (const e of plan.experiments) {
    const m = measureNamed(e.measure);
    for (const s of e.steps) runs += m.once?.(s) ? 1 : e.warmup + e.repeat;
  }
  return runs;
}

class Progress {
  done = 0;
  label = '';
  constructor(
    readonly total: number,
    readonly onProgress: ((p: RunProgress) => void) | undefined,
  ) {}

  report(experiment: string): void {
    this.onProgress?.({ experiment, done: this.done, total: this.total, label: this.label });
  }
}

/** The runs of one step: warm-ups, then measured runs, each a row; a runtime error ends the step with an error row. */
async function* stepRuns(run: ExperimentRun, s: Step, options: StepOptions, progress: Progress): AsyncGenerator<RunEvent, void, void> {
  const { plan, measure } = run;
  const once = measure.once?.(s) ?? false;
  const runs = once ? 1 : plan.warmup + plan.repeat;
  for (let i = 0; i < runs; i++) {
    run.checkpoint();
    const measured = !once && i >= plan.warmup;
    const runId = i - plan.warmup;
    const baseline = s.baseline === undefined ? '' : ` ${s.baseline}`;
    const point = pointLabel(s) ? ` ${pointLabel(s)}` : '';
    progress.label = `${plan.name}: ${s.op}${baseline}${point}${once ? '' : measured ? ` run ${runId + 1}/${plan.repeat}` : ' warm-up'}`;
    progress.report(plan.name);
    let out: ResultRow | null;
    try {
      out = yield* pausesOf(measure.run(s, run.context(i)), (p) => ({ kind: 'paused', experiment: plan.name, step: s, run: i, measured, ...p }), options.pauses ?? false);
    } catch (e) {
      if (e instanceof Stop || !(e instanceof VramlabError)) throw e;
      // The step cannot run (out of memory, unsupported): one row says so; the plan goes on.
      const row = run.row(measure.params(s, run.loadedInfo()), null, {}, e.code === 'VL_ERR_OUT_OF_MEMORY' ? 'out_of_memory' : `error: ${e.message}`);
      run.result.rows.push(row);
      run.unload();
      progress.done += runs - i;
      progress.report(plan.name);
      yield { kind: 'row', experiment: plan.name, step: s, row };
      return;
    }
    progress.done++;
    progress.report(plan.name);
    if (measured && out) {
      const row = run.row(measure.params(s, run.loadedInfo()), runId, out);
      run.result.rows.push(row);
      yield { kind: 'row', experiment: plan.name, step: s, row };
    }
  }
}

/**
 * Drives a measure's run: its pauses become events (when `yielded`; otherwise it goes straight on),
 * its return value is the run's metrics. Stopping the iteration at a pause closes the run, so its
 * sessions are freed.
 */
async function* pausesOf(gen: AsyncGenerator<StepPause, ResultRow | null, void>, event: (p: StepPause) => RunEvent, yielded: boolean): AsyncGenerator<RunEvent, ResultRow | null, void> {
  let done = false;
  try {
    for (let r = await gen.next(); ; r = await gen.next()) {
      if (r.done) {
        done = true;
        return r.value;
      }
      if (yielded) yield event(r.value);
    }
  } finally {
    if (!done) await gen.return(null);
  }
}

/** Runs every experiment of a plan in order, as events; returns what runPlan returns. */
export async function* runSteps(plan: RunnablePlan, options: StepOptions = {}): AsyncGenerator<RunEvent, RunResult, void> {
  const commit = currentCommit();
  const progress = new Progress(runsOf(plan), options.onProgress);
  const out: RunResult = { file: plan.file, experiments: [], cancelled: false };
  for (const e of plan.experiments) {
    const run = new ExperimentRun(e, plan.file, commit, options.signal, options.onLoad);
    out.experiments.push(run.result);
    try {
      yield { kind: 'experiment', result: run.result };
      for (const s of e.steps) yield* stepRuns(run, s, options, progress);
    } catch (err) {
      if (!(err instanceof Stop)) throw err;
      run.result.stopped = err.why;
      if (err.why === 'cancelled') out.cancelled = true;
    } finally {
      run.finish();
      run.dispose();
    }
    yield { kind: 'end', result: run.result };
    if (out.cancelled) break;
  }
  return out;
}

/** Runs every experiment of a plan in order; stops early (keeping the results so far) on the signal. */
export async function runPlan(plan: RunnablePlan, options: RunOptions = {}): Promise<RunResult> {
  const events = runSteps(plan, options);
  for (;;) {
    const r = await events.next();
    if (r.done) return r.value;
  }
}
