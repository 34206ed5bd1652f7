// run-context.ts: one experiment's run in progress: its result (evidence and rows), the runtime and
// model of the steps (reused while consecutive steps load the same), the device's runtime without a
// budget, the values kept across steps, the correctness check, the time limit and the cancel signal;
// and the StepContext each run of a step gets (lab/measure.ts).
import { execFileSync } from 'node:child_process';
import { packageRoot } from '../runtime/index.js';
import { Runtime } from '../runtime/runtime.js';
import type { ModelInfo } from '../runtime/types.js';
import type { Loaded, Measure, StepContext } from './measure.js';
import { type LoadPlan, modelOptions, type RunnableExperiment } from './plan.js';
import { measureNamed } from './registry.js';
import type { ExperimentResult, ResultRow } from './results.js';

/** Thrown where a run stops early: cancelled, or past the experiment's time limit. */
export class Stop extends Error {
  constructor(readonly why: 'cancelled' | 'time_limit') {
    super(why);
  }
}

/** The commit the results come from: VRAMLAB_COMMIT, or git's HEAD of the package (with "-dirty"). */
export function currentCommit(): string {
  const env = process.env['VRAMLAB_COMMIT'];
  if (env) return env;
  try {
    const root = packageRoot();
    const head = execFileSync('git', ['-C', root, 'rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${head}-dirty` : head;
  } catch {
    return 'unknown';
  }
}

interface Held extends Loaded {
  key: string;
}

export class ExperimentRun {
  readonly result: ExperimentResult;
  readonly measure: Measure;
  readonly memo = new Map<string, unknown>();
  #loaded: Held | null = null;
  #deviceRt: Runtime | null = null;
  readonly #deadline: number;
  #worst: number | null = null;
  #pass = true;
  #compared = false;

  constructor(
    readonly plan: RunnableExperiment,
    file: string,
    commit: string,
    readonly signal: AbortSignal | undefined,
    readonly onLoad?: (p: { model: string; done: number; total: number }) => void,
  ) {
    this.measure = measureNamed(plan.measure);
    this.#deadline = plan.timeLimitMs === null ? Infinity : performance.now() + plan.timeLimitMs;
    this.result = {
      benchmark: plan.measure,
      experiment: plan.name,
      file,
      device: plan.device,
      commit,
      date: new Date().toISOString(),
      budget_bytes: null,
      model: plan.model,
      model_shape: null,
      weight_bytes: null,
      repeat: plan.repeat,
      warmup: plan.warmup,
      check: null,
      stopped: null,
      rows: [],
    };
  }

  /** Throws Stop when cancelled or past the time limit. */
  checkpoint(): void {
    if (this.signal?.aborted) throw new Stop('cancelled');
    if (performance.now() > this.#deadline) throw new Stop('time_limit');
  }

  /** What run `run` of a step sees. */
  context(run: number): StepContext {
    return {
      plan: this.plan,
      run,
      result: this.result,
      memo: this.memo,
      model: (load, options) => this.#model(load, options?.reference ?? false),
      unload: () => this.unload(),
      device: (options) => this.#device(options?.measured ?? false),
      checkpoint: () => this.checkpoint(),
      wants: (metric) => this.plan.metrics.includes(metric),
      compared: (error) => this.#checked(error),
      matched: (match) => this.#matched(match),
    };
  }

  /** The model the last step ran on, if it is loaded. */
  loadedInfo(): ModelInfo | null {
    return this.#loaded?.model.info() ?? null;
  }

  /**
   * A row: the step's parameters, run_id, the plan's metrics (null where not measured) and the status.
   * A budget_bytes of null (no budget: the device's memory) is written as the budget of the runtime the
   * step ran on, so that the column says what the step had.
   */
  row(params: ResultRow, runId: number | null, metrics: ResultRow, status = 'ok'): ResultRow {
    const row: ResultRow = { ...params, run_id: runId };
    if ('budget_bytes' in row && row['budget_bytes'] === null) row['budget_bytes'] = (this.#loaded?.rt ?? this.#deviceRt)?.memory().budget ?? null;
    for (const m of this.plan.metrics) row[m] = metrics[m] ?? null;
    row['status'] = status;
    return row;
  }

  unload(): void {
    this.#loaded?.rt.dispose();
    this.#loaded = null;
  }

  /** Records the correctness check (when a run was compared) and the measure's summary of the rows. */
  finish(): void {
    const what = this.measure.check;
    if (what && this.#compared) this.result.check = { what, tolerance: this.plan.tolerance, pass: this.#pass, worst: this.#worst };
    this.measure.summarize?.(this.result);
  }

  dispose(): void {
    this.unload();
    this.#deviceRt?.dispose();
    this.#deviceRt = null;
  }

  /** Records the device's name and, from the runtime of the first measured step, its budget. */
  #noteDevice(rt: Runtime, measured: boolean): void {
    if (this.result.device === this.plan.device) this.result.device = rt.deviceName();
    if (measured) this.result.budget_bytes ??= rt.memory().budget;
  }

  async #device(measured: boolean): Promise<Runtime> {
    this.#deviceRt ??= await Runtime.open({ device: this.plan.device });
    this.#noteDevice(this.#deviceRt, measured);
    return this.#deviceRt;
  }

  async #model(load: LoadPlan, reference: boolean): Promise<Loaded> {
    const key = JSON.stringify(load);
    if (this.#loaded?.key === key) return { ...this.#loaded, loadMs: null };
    this.unload();
    const rt = await Runtime.open({ device: this.plan.device, budget: load.budget ?? undefined, hostBudget: load.hostBudget ?? undefined });
    try {
      const t0 = performance.now();
      const onLoad = this.onLoad;
      const onProgress = onLoad && ((done: number, total: number) => onLoad({ model: load.model, done, total }));
      const model = await rt.loadModel(load.model, { ...modelOptions(load), onProgress });
      this.#loaded = { key, rt, model, loadMs: performance.now() - t0 };
    } catch (e) {
      rt.dispose();
      throw e;
    }
    this.#noteDevice(rt, !reference);
    const info = this.#loaded.model.info();
    this.result.model_shape ??= info.shape;
    this.result.weight_bytes ??= info.weightBytes;
    return this.#loaded;
  }

  #checked(err: number | null): void {
    if (err === null) return;
    this.#compared = true;
    this.#worst = Math.max(this.#worst ?? 0, err);
    if (!(err <= this.plan.tolerance)) this.#pass = false;
  }

  #matched(match: boolean | null): void {
    if (match === null) return;
    this.#compared = true;
    if (!match) this.#pass = false;
  }
}
