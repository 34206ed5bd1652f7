// measure.ts: what a measure is. A measure (lab/measures/<name>.ts) is one module exporting one
// Measure: its settings (read and checked by the .vlab language), baselines and metrics, how a sweep
// point compiles to steps, how one run of a step goes, its correctness check, the columns of its rows
// and its figures. The runner (lab/runner.ts) owns the lifecycle around it: models, repeats, progress,
// cancelling, time limits and the evidence; lab/registry.ts lists the measures.
import type { Paused } from '../runtime/breakpoint.js';
import type { Model, Runtime } from '../runtime/runtime.js';
import type { Session } from '../runtime/session.js';
import type { ModelInfo, Placement } from '../runtime/types.js';
import type { Figure, FigureNote } from './figures.js';
import type { AddPlan, LoadPlan, PromptPlan, RunnableExperiment, Step, SweepPoint } from './plan.js';
import type { ExperimentResult, ResultRow, Results } from './results.js';
import type { Problem, Report, SettingSpecs, SettingsView } from './settings.js';

/**
 * What a run yields where its step is paused at a breakpoint, the state held and the edit made,
 * before anything is timed: whoever iterates the run (runSteps with `pauses`) may read the
 * activation, then continue the iteration, which resumes the step.
 */
export interface StepPause {
  paused: Paused;
  session: Session;
}

/** One sweep point's settings, as a measure's compile() reads them (lab/build.ts). */
export interface CompileContext {
  readonly point: SweepPoint;
  /** The baselines to run, in order. */
  readonly baselines: readonly string[];
  /** A setting's value (set, swept, or its default); an internal error when it has none or is not a number. */
  number(name: string): number;
  /** A number setting without a default: undefined when the experiment does not set it. */
  optionalNumber(name: string): number | undefined;
  string(name: string): string;
  /** A prompt setting (default `prompt`) as a plan holds it: token counts get the experiment's seed. */
  prompt(name?: string): PromptPlan;
  optionalPrompt(name: string): PromptPlan | undefined;
  optionalAdd(name: string): AddPlan | undefined;
  /** The runtime and model of a step: the KV pool holds `sessions` sessions of `tokens` tokens unless kv_pool says. */
  load(placement: Placement, tokens: number, sessions: number): LoadPlan;
  /** True the first time `key` is asked in the experiment (one reference step per prompt, one probe). */
  first(key: string): boolean;
  /** An error in the experiment, at a setting (null: the experiment); compile() then returns what it can. */
  error(setting: string | null, code: Problem, message: string, hint?: string): void;
}

/** The runtime and model a step runs on. */
export interface Loaded {
  rt: Runtime;
  model: Model;
  /** How long loading took; null when the previous step's model was reused. */
  loadMs: number | null;
}

/** What one run of a step gets from the runner. */
export interface StepContext {
  readonly plan: RunnableExperiment;
  /** The run's index from 0, warm-ups included (measured runs have run >= plan.warmup). */
  readonly run: number;
  /** The experiment's result: a measure adds its evidence fields to it (the rows are the runner's). */
  readonly result: ExperimentResult;
  /** Values kept across the steps and runs of the experiment (references to compare against), by key. */
  readonly memo: Map<string, unknown>;
  /** Opens the runtime and loads the model of `load`, or reuses them when the last step loaded the same. */
  model(load: LoadPlan, options?: { reference?: boolean }): Promise<Loaded>;
  /** Frees the loaded runtime and model (after a reference run that needs no budget, say). */
  unload(): void;
  /** The device's runtime without a budget (copies, probes); `measured`: its budget is the run's. */
  device(options?: { measured?: boolean }): Promise<Runtime>;
  /** Stops here when the run is cancelled or past its time limit: call it between the parts of a long run. */
  checkpoint(): void;
  /** Whether the plan keeps this metric: measure the on-request ones only then. */
  wants(metric: string): boolean;
  /** The correctness check: a relative error against the plan's tolerance (null: nothing compared)... */
  compared(error: number | null): void;
  /** ... or whether two results agreed exactly (null: nothing compared). */
  matched(match: boolean | null): void;
}

export interface Measure<S extends Step = Step> {
  /** What a .vlab file writes: measure = NAME; results files carry it as "benchmark". */
  readonly name: string;
  /** One line: what a run does (docs/vlab.md). */
  readonly doc: string;
  /** Its settings beyond those of every experiment (lab/settings.ts UNIVERSAL_SETTINGS). */
  readonly settings: SettingSpecs;
  /** The compared methods, in the order a .vlab file runs them by default; none: no baselines setting. */
  readonly baselines: readonly string[];
  /** The metric columns of its rows, kept when a plan does not say (docs/vlab.md says what each is). */
  readonly metrics: readonly string[];
  /** Metrics measured only when a plan names them (they cost runs of their own). */
  readonly onRequest?: readonly string[];
  /** What its correctness check compares; null: it has none. */
  readonly check: string | null;
  /** The columns naming what each row ran, with their types: results files are checked against them. */
  readonly rowFields: Readonly<Record<string, 'string' | 'number'>>;
  /** The parameter columns its figures tell rows apart by when they vary (what a sweep changed). */
  readonly parameters: readonly string[];
  /** The evidence fields it writes, with their types (null is allowed): results files are checked against them. */
  readonly evidence?: Readonly<Record<string, 'string' | 'number' | 'boolean' | 'object'>>;
  /** Checks across its settings before compiling (e.g. an edit needs a layer). */
  validate?(s: SettingsView, report: Report): void;
  /** The steps of one sweep point. */
  compile(c: CompileContext): S[];
  /** True for a step that runs once and records no row (a reference run, a probe). */
  once?(step: S): boolean;
  /** The parameter columns of a step's rows; `info`: the model it ran on, when it loaded. */
  params(step: S, info: ModelInfo | null): ResultRow;
  /** One run of a step: its metrics (null: no row), yielding where it pauses at a breakpoint. */
  run(step: S, c: StepContext): AsyncGenerator<StepPause, ResultRow | null, void>;
  /** After the experiment's last step: evidence computed from its rows. */
  summarize?(result: ExperimentResult): void;
  /** Every figure a result of this measure has data for; `note` is told, in a line, why one is left out. */
  figures(r: Results, note?: FigureNote): Figure[];
}

/** The metrics a plan keeps when the experiment does not say. */
export function defaultMetrics(m: Measure): string[] {
  return [...m.metrics];
}

/** Every metric a plan of the measure may keep: its own and those measured on request. */
export function allMetrics(m: Measure): string[] {
  return [...m.metrics, ...(m.onRequest ?? [])];
}
