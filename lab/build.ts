// build.ts: an experiment's settings -> its ExperimentPlan: defaults filled in, sweeps expanded (every
// combination of the swept values, the first sweep outermost, at most max_points of them), and each
// sweep point handed to the measure's compile(): all at once, or as the steps are read. The .vlab compiler (dsl/compiler.ts) calls it with the values it checked; the
// benchmarks call it with values in code.
//
//   buildExperiment({ name: 'b', measure: 'breakpoints', settings: { model: modelValue('synthetic:tiny'),
//     prompt: { tokens: 32 }, scale: 0.9 }, sweeps: [{ name: 'layer', values: [0, 1, 3] }] })
import { VramlabError } from '../runtime/errors.js';
import type { Placement } from '../runtime/types.js';
import { type CompileContext, defaultMetrics, type Measure } from './measure.js';
import type { AddPlan, ExperimentPlan, LoadPlan, Plan, PromptPlan, RunnableExperiment, Step, SweepPoint } from './plan.js';
import { measureNamed, settingsOf } from './registry.js';
import { type ModelValue, outOfRange, type Problem, type PromptValue, type Report, type SettingSpecs, type SettingValue, sweepOverflow, sweepOverflowMessage, TOLERANCE_SETTING } from './settings.js';

export interface ExperimentDef {
  name: string;
  measure: string;
  /** The settings set, by name, as resolved values (lab/settings.ts); the others take their defaults. */
  settings?: Readonly<Record<string, SettingValue>>;
  /** The swept settings, in order: one run per combination of their values. */
  sweeps?: ReadonlyArray<{ name: string; values: readonly SettingValue[] }>;
}

/** A report that throws: for experiments built in code, where an error is the caller's mistake. */
function throwing(experiment: string): Report {
  return (setting, _code, message) => {
    throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `experiment ${experiment}${setting ? `, ${setting}` : ''}: ${message}`);
  };
}

/** A swept value as its sweep point records it: a number or a name, a prompt by its length. */
function pointValue(v: SettingValue): number | string {
  if (typeof v === 'number' || typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && 'tokens' in v) return v.tokens;
  if (typeof v === 'object' && v !== null && 'ids' in v) return v.ids.length;
  return JSON.stringify(v);
}

/** One sweep point's settings, as the measure's compile() reads them. */
class PointContext implements CompileContext {
  constructor(
    readonly measure: Measure,
    readonly specs: SettingSpecs,
    readonly values: Readonly<Record<string, SettingValue>>,
    readonly point: SweepPoint,
    readonly report: Report,
    readonly firsts: Set<string>,
  ) {}

  get baselines(): readonly string[] {
    return (this.value('baselines') as readonly string[] | undefined) ?? this.measure.baselines;
  }

  value(name: string): SettingValue | undefined {
    if (!(name in this.specs)) throw new VramlabError('VL_ERR_INTERNAL', `measure ${this.measure.name} reads ${name}, which is not one of its settings`);
    return this.values[name] ?? this.specs[name]?.default;
  }

  #typed<T>(name: string, ok: (v: SettingValue) => boolean, what: string): T | undefined {
    const v = this.value(name);
    if (v !== undefined && !ok(v)) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `setting ${name} must be ${what}, got ${JSON.stringify(v)}`);
    return v as T | undefined;
  }

  #required<T>(name: string, v: T | undefined): T {
    if (v === undefined) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `measure ${this.measure.name} needs the setting ${name}`);
    return v;
  }

  optionalNumber(name: string): number | undefined {
    return this.#typed<number>(name, (v) => typeof v === 'number', 'a number');
  }

  number(name: string): number {
    return this.#required(name, this.optionalNumber(name));
  }

  string(name: string): string {
    return this.#required(name, this.#typed<string>(name, (v) => typeof v === 'string', 'a name'));
  }

  optionalPrompt(name: string): PromptPlan | undefined {
    const p = this.#typed<PromptValue>(name, (v) => typeof v === 'object' && v !== null && ('tokens' in v || 'ids' in v), 'a prompt ({ tokens } or { ids })');
    if (p === undefined) return undefined;
    if ('tokens' in p) return { tokens: p.tokens, seed: this.number('seed') };
    return p.text === undefined ? { ids: p.ids } : { ids: p.ids, text: p.text };
  }

  prompt(name = 'prompt'): PromptPlan {
    return this.#required(name, this.optionalPrompt(name));
  }

  optionalAdd(name: string): AddPlan | undefined {
    const a = this.#typed<AddPlan>(name, (v) => typeof v === 'object' && v !== null && ('norm' in v || 'values' in v), 'a vector ({ norm, seed } or { values })');
    if (a === undefined) return undefined;
    return 'values' in a ? { values: [...a.values] } : { norm: a.norm, seed: a.seed };
  }

  load(placement: Placement, tokens: number, sessions: number): LoadPlan {
    const model = this.#required('model', this.#typed<ModelValue>('model', (v) => typeof v === 'object' && v !== null && 'source' in v, 'a model ({ source, label })'));
    const block = this.number('kv_block');
    const streamed = placement !== 'resident';
    return {
      model: model.source,
      budget: this.optionalNumber('budget') ?? null,
      placement,
      ring: streamed ? (this.optionalNumber('ring') ?? null) : null,
      prefetch: streamed ? (this.optionalNumber('prefetch') ?? null) : null,
      kvPoolTokens: this.optionalNumber('kv_pool') ?? sessions * Math.ceil(tokens / block) * block,
      kvBlockTokens: block,
    };
  }

  first(key: string): boolean {
    if (this.firsts.has(key)) return false;
    this.firsts.add(key);
    return true;
  }

  error(setting: string | null, code: Problem, message: string, hint?: string): void {
    this.report(setting, code, message, hint);
  }
}

/** Every combination of the swept values, the first sweep outermost, made one at a time. */
function* sweepPoints(fixed: Readonly<Record<string, SettingValue>>, sweeps: ExperimentDef['sweeps'] & object): Generator<{ values: Record<string, SettingValue>; point: SweepPoint }> {
  const index = sweeps.map(() => 0);
  if (sweeps.some((sw) => sw.values.length === 0)) return;
  for (;;) {
    const values: Record<string, SettingValue> = { ...fixed };
    const point: SweepPoint = {};
    sweeps.forEach((sw, i) => {
      const v = sw.values[index[i] as number] as SettingValue;
      values[sw.name] = v;
      point[sw.name] = pointValue(v);
    });
    yield { values, point };
    let i = sweeps.length - 1;
    for (; i >= 0; i--) {
      index[i] = (index[i] as number) + 1;
      if ((index[i] as number) < (sweeps[i] as { values: readonly SettingValue[] }).values.length) break;
      index[i] = 0;
    }
    if (i < 0) return;
  }
}

/**
 * The plan of one experiment with its steps made as they are read, a sweep point at a time (each
 * iteration makes them anew, the same each time), so that a plan of many points is never held whole:
 * `vramlab plan` and `run` read it so. Every point is compiled once here, to report every error before
 * anything runs; errors go to `report` (at a setting, or null for the experiment), by default thrown.
 */
export function buildExperimentSteps(def: ExperimentDef, report: Report = throwing(def.name)): RunnableExperiment {
  const m = measureNamed(def.measure);
  const specs = settingsOf(m);
  const fixed = def.settings ?? {};
  const sweeps = def.sweeps ?? [];
  for (const name of [...Object.keys(fixed), ...sweeps.map((s) => s.name)])
    if (!(name in specs) || name === 'measure') report(name, 'unsupported', `${name} is not a setting of measure ${m.name}`);
  const check = (name: string, v: SettingValue) => {
    const spec = specs[name];
    const why = spec ? outOfRange(name, spec.kind, v) : null;
    if (why !== null) report(name, 'range', why);
  };
  for (const [name, v] of Object.entries(fixed)) check(name, v);
  for (const sw of sweeps) for (const v of sw.values) check(sw.name, v);
  const plain = new PointContext(m, specs, fixed, {}, report, new Set());
  const limit = plain.number('max_points');
  const over = sweepOverflow(sweeps.map((sw) => sw.values.length), limit);
  if (over) {
    const { message, hint } = sweepOverflowMessage(sweeps.map((sw) => ({ name: sw.name, count: sw.values.length })), over.points, limit);
    report((sweeps[over.at] as { name: string }).name, 'range', `${message}: ${hint}`);
  }

  const stepsWith = function* (r: Report): Generator<Step, void, undefined> {
    const firsts = new Set<string>();
    for (const { values, point } of sweepPoints(fixed, sweeps)) yield* m.compile(new PointContext(m, specs, values, point, r, firsts));
  };
  for (const step of stepsWith(report)) void step; // every point compiled once: its errors reported now
  const model = 'model' in specs ? (plain.value('model') as ModelValue | undefined) : undefined;
  return {
    name: def.name,
    measure: m.name,
    device: plain.string('device'),
    model: model?.label ?? null,
    repeat: plain.number('repeat'),
    warmup: plain.number('warmup'),
    timeLimitMs: plain.optionalNumber('time_limit') ?? null,
    metrics: [...((fixed['metrics'] as readonly string[] | undefined) ?? defaultMetrics(m))],
    tolerance: 'tolerance' in specs ? plain.number('tolerance') : (TOLERANCE_SETTING.default as number),
    // Compiled once without errors above: compiling again cannot report one.
    steps: { [Symbol.iterator]: () => stepsWith(throwing(def.name)) },
  };
}

/** The plan of one experiment, its steps in an array (see buildExperimentSteps). */
export function buildExperiment(def: ExperimentDef, report: Report = throwing(def.name)): ExperimentPlan {
  const e = buildExperimentSteps(def, report);
  return { ...e, steps: [...e.steps] };
}

/** A plan of experiments built in code (file ""). */
export function buildPlan(defs: readonly ExperimentDef[], file = ''): Plan {
  return { file, experiments: defs.map((d) => buildExperiment(d)) };
}
