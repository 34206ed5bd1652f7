// settings.ts: how a measure declares its settings: by kind (a whole number, a size, a choice, a
// prompt, ...), with its documentation, default and whether it can be swept. The .vlab language reads
// a value of each kind (dsl/settings.ts) and checks it against the model (dsl/checker.ts); the lab
// fills in the defaults and hands each sweep point to the measure (lab/build.ts). The settings every
// experiment has, and those that several measures share, are declared here once.
import type { AddPlan } from './plan.js';
import { PLACEMENTS } from '../runtime/types.js';

/** What a setting's value is, and the rules the .vlab language checks it by. */
export type SettingKind =
  /** A whole number in [min, max]; `tokens`: it may carry the unit tokens. */
  | { type: 'integer'; min: number; max?: number; tokens?: boolean }
  /** A layer of the model, from 0: checked against the model's layers. */
  | { type: 'layer' }
  /** Tokens generated after the prompt: with the prompt, checked against the model's positions. */
  | { type: 'generated'; max: number }
  | { type: 'real'; positive?: boolean }
  /** Bytes, written with a unit (12 GB). */
  | { type: 'size' }
  /** Milliseconds, written with a unit (10 min). */
  | { type: 'duration' }
  | { type: 'choice'; options: readonly string[] }
  /** A list of the measure's baselines, or of its metrics. */
  | { type: 'baselines' }
  | { type: 'metrics' }
  /** One of the registered measures. */
  | { type: 'measure' }
  /** cpu or cuda:N. */
  | { type: 'device' }
  /** A model directory or synthetic(...). */
  | { type: 'model' }
  /** A prompt: a token count, ids or a text. */
  | { type: 'prompt' }
  /** A vector added at every position: random(norm = N, seed = S) or hidden-size numbers. */
  | { type: 'vector' }
  /** activation(PROMPT): another prompt's activation at the same layer. */
  | { type: 'activation' };

export interface SettingSpec {
  kind: SettingKind;
  /** One line of documentation (docs/vlab.md lists the same). */
  doc: string;
  sweep: boolean;
  /** The value when the experiment does not set it; none: the measure handles its absence. */
  default?: SettingValue;
  /** The hint of the error an experiment without this setting gets (the setting is required). */
  required?: string;
}

export type SettingSpecs = Readonly<Record<string, SettingSpec>>;

/** A model as the runtime loads it (an absolute directory or "synthetic:<spec>") and as written. */
export interface ModelValue {
  source: string;
  label: string;
}

/** A prompt as a setting holds it; the seed setting turns a token count into ids (lab/build.ts). */
export type PromptValue = { tokens: number } | { ids: number[]; text?: string };

/** A value of any kind, resolved: numbers are bytes, milliseconds or plain numbers; names are strings. */
export type SettingValue = number | string | readonly string[] | ModelValue | PromptValue | AddPlan;

/** The prompt's length in tokens; null for a text that is not tokenized yet. */
export function promptLength(p: PromptValue | { text: string }): number | null {
  return 'tokens' in p ? p.tokens : 'ids' in p ? p.ids.length : null;
}

/** A model value from a runtime model string: "synthetic:<spec>" or a directory (taken as it is). */
export function modelValue(source: string): ModelValue {
  return { source, label: source };
}

// --- the settings of every experiment ----------------------------------------------------------

export const MEASURE_SETTING: SettingSpec = { kind: { type: 'measure' }, doc: 'what the experiment measures (required)', sweep: false };

/** Settings every measure has, beside `measure`. */
export const UNIVERSAL_SETTINGS: SettingSpecs = {
  device: { kind: { type: 'device' }, doc: 'cpu or cuda:N (default cpu; vramlab run --device overrides it)', sweep: false, default: 'cpu' },
  budget: { kind: { type: 'size' }, doc: "the VRAM budget, a size (default: the device's memory)", sweep: true },
  repeat: { kind: { type: 'integer', min: 1, max: 10000 }, doc: 'measured runs per step, one row each (default 3)', sweep: false, default: 3 },
  warmup: { kind: { type: 'integer', min: 0, max: 10000 }, doc: 'unrecorded runs before them (default 1)', sweep: false, default: 1 },
  time_limit: { kind: { type: 'duration' }, doc: 'stop after this long, keeping the rows so far (default: none)', sweep: false },
  metrics: { kind: { type: 'metrics' }, doc: "the metric columns to keep, a list (default: the measure's own)", sweep: false },
  max_points: {
    kind: { type: 'integer', min: 1, max: 1_000_000 },
    doc: 'the most sweep points (the product of the sweeps\' value counts) the experiment may have (default 10000)',
    sweep: false,
    default: 10_000,
  },
};

/**
 * Where a product of sweeps passes `limit` points: the index of the first sweep that takes it over, and
 * the product up to it (in 64-bit floats, exact to 2^53, so a trillion points is still counted right);
 * null when the whole product is within the limit.
 */
export function sweepOverflow(counts: readonly number[], limit: number): { at: number; points: number } | null {
  let points = 1;
  for (const [i, n] of counts.entries()) {
    points *= n;
    if (points > limit) return { at: i, points: counts.reduce((a, b) => a * b, 1) };
  }
  return null;
}

/** The diagnostic of sweepOverflow: the count, how it is made, and the two ways out. */
export function sweepOverflowMessage(sweeps: readonly { name: string; count: number }[], points: number, limit: number): { message: string; hint: string } {
  const made = sweeps.map((s) => `${s.name} ${s.count.toLocaleString('en-US')}`).join(' x ');
  const most = UNIVERSAL_SETTINGS['max_points']?.kind as { max: number };
  return {
    message: `the sweeps make ${points.toLocaleString('en-US')} points (${made}), more than max_points = ${limit.toLocaleString('en-US')}`,
    hint: `sweep fewer values, or raise max_points (at most ${most.max.toLocaleString('en-US')})`,
  };
}

/** The `baselines` setting, which every measure with baselines has. */
export const BASELINES_SETTING: SettingSpec = { kind: { type: 'baselines' }, doc: "the baselines to compare, a list (default: all of the measure's)", sweep: false };

/** The tolerance of the correctness check (the plan always carries one). */
export const TOLERANCE_SETTING: SettingSpec = {
  kind: { type: 'real', positive: true },
  doc: 'relative L2 error of the logits under which the correctness check passes (default 0.001)',
  sweep: false,
  default: 1e-3,
};

/** The settings of a measure that runs a model: the model, where it lives, its KV pool, the prompt. */
export const MODEL_SETTINGS: SettingSpecs = {
  model: {
    kind: { type: 'model' },
    doc: 'a model directory (a string, relative to the file) or synthetic(SHAPE, key = value, ...) (required)',
    sweep: false,
    required: 'add model = synthetic(llama-7b) or model = "path/to/model-dir"',
  },
  ring: { kind: { type: 'size' }, doc: 'the ring buffer for streamed layers, a size (default: two layers)', sweep: true },
  prefetch: { kind: { type: 'integer', min: 1, max: 1024 }, doc: 'streamed layers copied ahead of the one computing (default 1)', sweep: true },
  kv_pool: { kind: { type: 'integer', min: 1, max: 1 << 24, tokens: true }, doc: 'KV pool capacity in tokens over all sessions (default: what the workload needs)', sweep: true },
  kv_block: { kind: { type: 'integer', min: 1, max: 4096, tokens: true }, doc: 'tokens per KV block (default 16)', sweep: false, default: 16 },
  prompt: { kind: { type: 'prompt' }, doc: 'the prompt: a token count (512 tokens), ids ([3, 17, 42]) or a text ("...") (default 128 tokens)', sweep: true, default: { tokens: 128 } },
  seed: { kind: { type: 'integer', min: 0 }, doc: 'the seed of the ids of a prompt given as a token count (default 1)', sweep: false, default: 1 },
  tolerance: TOLERANCE_SETTING,
};

/** Where the layers live, for measures whose baselines are not the placements. */
export const PLACEMENT_SETTING: SettingSpec = {
  kind: { type: 'choice', options: PLACEMENTS },
  doc: `where the layers live: ${PLACEMENTS.join(', ')} (default resident)`,
  sweep: true,
  default: 'resident',
};

export const NEW_TOKENS_SETTING: SettingSpec = { kind: { type: 'generated', max: 1 << 20 }, doc: 'tokens generated after the prompt (default 16)', sweep: true, default: 16 };

/** The layer and the edits of the breakpoints and steering measures. */
export const EDIT_SETTINGS: SettingSpecs = {
  layer: { kind: { type: 'layer' }, doc: 'the layer whose output is paused at or edited, from 0 (required)', sweep: true, required: 'add layer = N (or sweep layer in [...]), counting layers from 0' },
  scale: { kind: { type: 'real' }, doc: 'edit: multiply the activation by this number', sweep: true },
  add: { kind: { type: 'vector' }, doc: 'edit: add random(norm = N, seed = S) or a list of hidden-size numbers at every position', sweep: false },
};

// --- checks across settings that measures share ------------------------------------------------------

/** What a measure's cross-setting checks see of an experiment before it is compiled (dsl/checker.ts). */
export interface SettingsView {
  /** The experiment's name, for messages. */
  readonly experiment: string;
  /** The experiment sets or sweeps it (even when its value did not check). */
  has(name: string): boolean;
  /** Its checked values: the one it is set to, or every swept value; none when unset. */
  values(name: string): unknown[];
}

/** The classes of error a measure reports (the .vlab language's diagnostic codes of the same names). */
/**
 * Why a value set in code (buildPlan, the benchmarks' flags) breaks its setting's rule, or null: the
 * numeric and choice rules that the .vlab language checks as it reads a file (dsl/settings.ts), for
 * values that come resolved already. Values of the wrong type are refused where they are read.
 */
export function outOfRange(name: string, kind: SettingKind, v: SettingValue): string | null {
  const whole = (n: number, min: number, max = Number.MAX_SAFE_INTEGER, what = name) =>
    !Number.isInteger(n) ? `${what} must be a whole number, got ${n}` : n < min || n > max ? `${what} must be ${max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `from ${min} to ${max}`}, got ${n}` : null;
  if (kind.type === 'choice') return typeof v === 'string' && !kind.options.includes(v) ? `${name} must be one of ${kind.options.join(', ')}, got ${v}` : null;
  if (kind.type === 'prompt') return typeof v === 'object' && v !== null && 'tokens' in v ? whole(v.tokens, 1, Number.MAX_SAFE_INTEGER, `${name}'s token count`) : null;
  if (typeof v !== 'number') return null;
  switch (kind.type) {
    case 'integer':
      return whole(v, kind.min, kind.max);
    case 'layer':
      return whole(v, 0);
    case 'generated':
      return whole(v, 0, kind.max);
    case 'real':
      return !Number.isFinite(v) ? `${name} must be a finite number, got ${v}` : kind.positive && !(v > 0) ? `${name} must be larger than 0, got ${v}` : null;
    case 'size':
      return !(Number.isFinite(v) && v >= 1) ? `${name} must be at least 1 byte, got ${v}` : null;
    case 'duration':
      return !(Number.isFinite(v) && v > 0) ? `${name} must be longer than 0 ms, got ${v}` : null;
    default:
      return null;
  }
}

export type Problem = 'missing' | 'unsupported' | 'reference' | 'range';

/** Reports an error at a setting (null: at the experiment's name). */
export type Report = (setting: string | null, code: Problem, message: string, hint?: string) => void;

/** ring and prefetch do nothing on resident layers: an error when no placement of the experiment streams. */
export function checkStreamedOnly(s: SettingsView, report: Report): void {
  const placements = s.values('placement');
  if (placements.some((p) => p !== 'resident')) return;
  for (const k of ['ring', 'prefetch'])
    if (s.has(k)) report(k, 'unsupported', `${k} applies to streamed layers, and placement is ${String(placements[0] ?? 'resident')}`, 'set placement = stream, stream-sync or auto, or remove it');
}
