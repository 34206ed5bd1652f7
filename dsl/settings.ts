// settings.ts: reading a setting's value from the AST by the kind its measure declares it with
// (lab/settings.ts): a whole number, a size, a duration, a choice, a model, a prompt, ... Each reader
// turns a value into a checked one or reports why not, with the setting's name and a hint.
import { isAbsolute, resolve } from 'node:path';
import { type Value, describe } from './ast.js';
import type { DiagnosticCode, DiagnosticSink, Position } from './diagnostics.js';
import { type ModelFacts, directoryFacts, syntheticFacts } from './models.js';
import { allMetrics, type Measure } from '../lab/measure.js';
import { measureNames } from '../lab/registry.js';
import type { SettingSpec } from '../lab/settings.js';
import { isDeviceName } from '../runtime/device.js';
import { VramlabError } from '../runtime/errors.js';
import { NAMED_SHAPES } from '../runtime/synthetic.js';
import { parseSize } from '../runtime/units.js';

export const SIZE_UNITS = 'B, KB, MB, GB, TB, KiB, MiB, GiB or TiB';
const TIME_UNITS: Record<string, number> = { us: 1e-3, ms: 1, s: 1e3, min: 60e3 };
const TOKEN_UNITS = new Set(['tokens', 'token']);

/** A model as written and what the checker learned about it. */
export interface ModelRef {
  /** What the runtime loads: an absolute directory or "synthetic:<spec>". */
  source: string;
  /** As the file wrote it. */
  label: string;
  /** The directory, for a model directory (tokenizer.json lives there). */
  dir: string | null;
  facts: ModelFacts;
  pos: Position;
}

export type PromptSetting = ({ tokens: number } | { ids: number[]; idPositions: Position[] } | { text: string }) & { pos: Position };

export type AddSetting = ({ norm: number; seed: number } | { values: number[] }) & { pos: Position };

/** Reads values for one experiment: reports into the sink, knows the file's folder and the measure. */
export class Reader {
  constructor(
    readonly sink: DiagnosticSink,
    readonly baseDir: string,
    readonly measure: Measure | null,
  ) {}

  fail(v: { pos: Position }, code: DiagnosticCode, message: string, hint?: string): undefined {
    this.sink.error(v.pos, code, message, hint);
    return undefined;
  }

  number(v: Value, name: string): { value: number; unit: string | null; pos: Position } | undefined {
    if (v.kind !== 'number') return this.fail(v, 'type', `${name} must be a number, got ${describe(v)}`);
    if (!Number.isFinite(v.value)) return this.fail(v, 'range', `${name}: ${v.text} is not a finite number`);
    return { value: v.value, unit: v.unit?.name ?? null, pos: v.unit?.pos ?? v.pos };
  }

  /** A whole number in [min, max], with no unit or (when `tokens`) the unit tokens. */
  integer(v: Value, name: string, min: number, max = Number.MAX_SAFE_INTEGER, tokens = false): number | undefined {
    const n = this.number(v, name);
    if (!n) return undefined;
    if (n.unit !== null && !(tokens && TOKEN_UNITS.has(n.unit))) return this.fail(n, 'unit', `${name} takes ${tokens ? 'a number of tokens' : 'a plain number'}, not ${n.unit}`, tokens ? `write e.g. ${name} = 64 tokens` : `write e.g. ${name} = ${Math.max(min, 1)}`);
    if (!Number.isInteger(n.value)) return this.fail(v, 'type', `${name} must be a whole number, got ${(v as { text: string }).text}`);
    if (n.value < min || n.value > max) return this.fail(v, 'range', `${name} must be ${max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `from ${min} to ${max}`}, got ${n.value}`);
    return n.value;
  }

  real(v: Value, name: string, positive = false): number | undefined {
    const n = this.number(v, name);
    if (!n) return undefined;
    if (n.unit !== null) return this.fail(n, 'unit', `${name} takes a plain number, not ${n.unit}`);
    if (positive && !(n.value > 0)) return this.fail(v, 'range', `${name} must be larger than 0, got ${n.value}`);
    return n.value;
  }

  /** A size with a unit, in bytes (at least 1). */
  size(v: Value, name: string): number | undefined {
    const n = this.number(v, name);
    if (!n) return undefined;
    const example = `${name} = 4 GB`;
    if (n.unit === null) return this.fail(v, 'unit', `${name} needs a unit: ${n.value} what?`, `write a size with ${SIZE_UNITS}, e.g. ${example}`);
    if (n.unit in TIME_UNITS || TOKEN_UNITS.has(n.unit)) return this.fail(n, 'unit', `${name} is a size, and ${n.unit} is not a unit of size`, `use ${SIZE_UNITS}, e.g. ${example}`);
    let bytes: number;
    try {
      bytes = parseSize(`${n.value}${n.unit}`);
    } catch {
      return this.fail(n, 'unit', `unknown unit ${n.unit} for ${name}`, `write a size with ${SIZE_UNITS}, e.g. ${example}`);
    }
    if (n.value < 0 || bytes < 1) return this.fail(v, 'range', `${name} must be at least 1 byte, got ${(v as { text: string }).text} ${n.unit}`);
    return bytes;
  }

  /** A duration with a unit, in milliseconds (larger than 0). */
  duration(v: Value, name: string): number | undefined {
    const n = this.number(v, name);
    if (!n) return undefined;
    const scale = n.unit === null ? undefined : TIME_UNITS[n.unit];
    if (scale === undefined) return this.fail(n, 'unit', n.unit === null ? `${name} needs a unit: ${n.value} what?` : `${name} is a time, and ${n.unit} is not a unit of time`, `use us, ms, s or min, e.g. ${name} = 10 min`);
    if (!(n.value > 0)) return this.fail(v, 'range', `${name} must be longer than 0, got ${n.value} ${n.unit}`);
    return n.value * scale;
  }

  choice<T extends string>(v: Value, name: string, options: readonly T[]): T | undefined {
    if (v.kind !== 'name') return this.fail(v, 'type', `${name} must be one of ${options.join(', ')}, got ${describe(v)}`);
    if (!options.includes(v.name as T)) return this.fail(v, 'unknown-name', `${name} has no choice ${v.name}`, `use ${options.join(', ')}${suggest(v.name, options)}`);
    return v.name as T;
  }

  /** A list of distinct names, each one of `options`. */
  choices(v: Value, name: string, options: readonly string[]): string[] | undefined {
    if (v.kind !== 'list') return this.fail(v, 'type', `${name} must be a list such as [${options.slice(0, 2).join(', ')}], got ${describe(v)}`);
    if (v.items.length === 0) return this.fail(v, 'range', `${name} is empty`, `list at least one of ${options.join(', ')}`);
    const out: string[] = [];
    let ok = true;
    for (const item of v.items) {
      const c = this.choice(item, name, options);
      if (c === undefined) ok = false;
      else if (out.includes(c)) ok = !!this.fail(item, 'duplicate', `${c} is listed twice in ${name}`);
      else out.push(c);
    }
    return ok ? out : undefined;
  }
}

/** " (did you mean X?)" for the nearest option within two edits, else "". */
export function suggest(word: string, options: readonly string[]): string {
  let best: string | undefined;
  let bestD = 3;
  for (const o of options) {
    const d = editDistance(word.toLowerCase(), o.toLowerCase());
    if (d < bestD) [best, bestD] = [o, d];
  }
  return best ? ` (did you mean ${best}?)` : '';
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length] as number;
}

function readDevice(v: Value, r: Reader): string | undefined {
  if (v.kind === 'name' && isDeviceName(v.name)) return v.name;
  return r.fail(v, v.kind === 'name' ? 'unknown-name' : 'type', `device must be cpu or cuda:N, got ${describe(v)}`, v.kind === 'name' && v.name === 'cuda' ? 'name the GPU: cuda:0' : 'e.g. device = cuda:0');
}

const SYNTHETIC_HINT = `e.g. synthetic(llama-7b, layers = 2) or synthetic(hidden = 256, layers = 2, heads = 4, ffn = 688, vocab = 1000); shapes: ${Object.keys(NAMED_SHAPES).join(', ')}`;

function readModel(v: Value, r: Reader): ModelRef | undefined {
  if (v.kind === 'string') {
    const dir = isAbsolute(v.value) ? v.value : resolve(r.baseDir, v.value);
    try {
      return { source: dir, label: v.value, dir, facts: directoryFacts(dir), pos: v.pos };
    } catch (e) {
      if (!(e instanceof VramlabError)) throw e;
      return r.fail(v, 'reference', `model: ${e.message}`, 'a model is a HuggingFace Llama directory (config.json and safetensors), relative to this file, or synthetic(...)');
    }
  }
  if (v.kind !== 'call' || v.callee !== 'synthetic')
    return r.fail(v, 'type', `model must be a directory (a string) or synthetic(...), got ${describe(v)}`, SYNTHETIC_HINT);
  const parts: string[] = [];
  let ok = true;
  v.args.forEach((a, i) => {
    let part: string | undefined;
    if (a.name === null) {
      if (i > 0 || a.value.kind !== 'name') ok = !!r.fail(a, 'type', 'synthetic(...) takes a shape name first, then key = value', SYNTHETIC_HINT);
      else if (!(a.value.name in NAMED_SHAPES)) ok = !!r.fail(a.value, 'unknown-name', `unknown shape ${a.value.name}`, `shapes: ${Object.keys(NAMED_SHAPES).join(', ')}${suggest(a.value.name, Object.keys(NAMED_SHAPES))}`);
      else part = a.value.name;
    } else if (a.value.kind === 'number' && a.value.unit === null) part = `${a.name.text}=${a.value.text}`;
    else if (a.value.kind === 'name') part = `${a.name.text}=${a.value.name}`;
    else ok = !!r.fail(a.value, 'type', `synthetic(...): ${a.name.text} takes a number or a name, got ${describe(a.value)}`);
    if (part === undefined) return;
    const key = part.split('=')[0];
    if (parts.some((p) => p.split('=')[0] === key)) {
      ok = !!r.fail(a, 'duplicate', `synthetic(...): ${a.name?.text ?? 'the shape'} is given twice`);
      return;
    }
    // Each argument alone against the runtime's parser, so an error points at its argument.
    if (a.name !== null) {
      try {
        syntheticFacts(`tiny,${part}`);
      } catch (e) {
        ok = !!r.fail(a, 'range', `synthetic(...): ${(e as Error).message.replace(/^synthetic model "[^"]*": /, '')}`);
        return;
      }
    }
    parts.push(part);
  });
  if (!ok) return undefined;
  if (parts.length === 0) return r.fail(v, 'missing', 'synthetic() needs a shape name or dimensions', SYNTHETIC_HINT);
  const spec = parts.join(',');
  try {
    return { source: `synthetic:${spec}`, label: `synthetic:${spec}`, dir: null, facts: syntheticFacts(spec), pos: v.pos };
  } catch (e) {
    return r.fail(v, 'range', `model: ${(e as Error).message.replace(/^synthetic model "[^"]*": /, '')}`, SYNTHETIC_HINT);
  }
}

function readPrompt(name: string) {
  return (v: Value, r: Reader): PromptSetting | undefined => {
    if (v.kind === 'string') {
      if (v.value.length === 0) return r.fail(v, 'range', `${name} is an empty text`);
      return { text: v.value, pos: v.pos };
    }
    if (v.kind === 'list') {
      if (v.items.length === 0) return r.fail(v, 'range', `${name} has no token ids`);
      const ids: number[] = [];
      for (const item of v.items) {
        const id = r.integer(item, `a token id of ${name}`, 0);
        if (id === undefined) return undefined;
        ids.push(id);
      }
      return { ids, idPositions: v.items.map((i) => i.pos), pos: v.pos };
    }
    if (v.kind === 'number') {
      if (v.unit === null || !TOKEN_UNITS.has(v.unit.name))
        return r.fail(v.unit ?? v, 'unit', `${name} as a number counts tokens: write ${v.text} tokens`, `or give ids ([3, 17, 42]) or a text ("Once upon a time")`);
      const tokens = r.integer(v, name, 1, Number.MAX_SAFE_INTEGER, true);
      return tokens === undefined ? undefined : { tokens, pos: v.pos };
    }
    return r.fail(v, 'type', `${name} must be a token count (64 tokens), ids ([3, 17, 42]) or a text ("..."), got ${describe(v)}`);
  };
}

function readVector(name: string, v: Value, r: Reader): AddSetting | undefined {
  if (v.kind === 'list') {
    const values: number[] = [];
    for (const item of v.items) {
      const x = r.real(item, name);
      if (x === undefined) return undefined;
      values.push(x);
    }
    return { values, pos: v.pos };
  }
  if (v.kind !== 'call' || v.callee !== 'random')
    return r.fail(v, 'type', `${name} must be random(norm = N, seed = S) or a list of hidden-size numbers, got ${describe(v)}`);
  let norm: number | undefined;
  let seed = 1;
  for (const a of v.args) {
    if (a.name?.text === 'norm') norm = r.real(a.value, 'random(norm)', true);
    else if (a.name?.text === 'seed') seed = r.integer(a.value, 'random(seed)', 0) ?? seed;
    else return r.fail(a, 'unknown-setting', `random(...) takes norm = N and seed = S${a.name ? `, not ${a.name.text}` : ''}`);
  }
  if (norm === undefined) return r.fail(v, 'missing', 'random(...) needs norm = N, the L2 norm of the vector added', `e.g. ${name} = random(norm = 4, seed = 1)`);
  return { norm, seed, pos: v.pos };
}

function readActivation(name: string, v: Value, r: Reader): PromptSetting | undefined {
  if (v.kind !== 'call' || v.callee !== 'activation' || v.args.length !== 1 || v.args[0]?.name !== null)
    return r.fail(v, 'type', `${name} must be activation(PROMPT), the activation of another prompt at the same layer, got ${describe(v)}`, `e.g. ${name} = activation("The Eiffel Tower is in Rome")`);
  return readPrompt('activation(...)')(v.args[0].value, r);
}

/** The value of setting `name` of kind `spec.kind`, checked; undefined when it did not check (reported). */
export function readSetting(name: string, spec: SettingSpec, v: Value, r: Reader): unknown {
  const k = spec.kind;
  switch (k.type) {
    case 'integer':
      return r.integer(v, name, k.min, k.max, k.tokens);
    case 'layer':
      return r.integer(v, name, 0);
    case 'generated':
      return r.integer(v, name, 0, k.max, true);
    case 'real':
      return r.real(v, name, k.positive);
    case 'size':
      return r.size(v, name);
    case 'duration':
      return r.duration(v, name);
    case 'choice':
      return r.choice(v, name, k.options);
    case 'baselines':
      return r.measure ? r.choices(v, name, r.measure.baselines) : undefined;
    case 'metrics':
      return r.measure ? r.choices(v, name, allMetrics(r.measure)) : undefined;
    case 'measure':
      return r.choice(v, name, measureNames());
    case 'device':
      return readDevice(v, r);
    case 'model':
      return readModel(v, r);
    case 'prompt':
      return readPrompt(name)(v, r);
    case 'vector':
      return readVector(name, v, r);
    case 'activation':
      return readActivation(name, v, r);
  }
}
