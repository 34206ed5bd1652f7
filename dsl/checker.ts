// checker.ts: from the AST to checked experiment configurations, with a diagnostic for every problem
// it can find: unknown or misplaced settings, types, units, ranges, references (layers, token ids,
// files) and combinations the runtime does not support. An experiment has one configuration per
// device kind it can run on: its settings, with those of `on cpu { ... }` or `on cuda { ... }`
// replacing them when it runs there.
import type { Experiment, Item, OnBlock, Setting, Sweep, Value, VlabFile } from './ast.js';
import { type DiagnosticSink, type Position } from './diagnostics.js';
import { encodeText, hasTokenizer, tokenizerPath } from './models.js';
import { type AddSetting, type ModelRef, type PromptSetting, Reader, readSetting, suggest } from './settings.js';
import type { Measure } from '../lab/measure.js';
import { allMeasures, findMeasure, measureNames, measuresWith, settingsOf } from '../lab/registry.js';
import { MEASURE_SETTING, promptLength, type SettingSpec, type SettingSpecs, type SettingsView, sweepOverflow, sweepOverflowMessage } from '../lab/settings.js';
import type { DeviceKind } from '../runtime/device.js';
import { VramlabError } from '../runtime/errors.js';

export const DEVICE_KINDS: readonly DeviceKind[] = ['cpu', 'cuda'];

/** A checked value, with where it was written (a swept value: its own position; a set one: its setting's name). */
export interface Placed {
  value: unknown;
  pos: Position;
}

/** A swept setting: its values, each with where it was written. */
export interface SweepConfig {
  name: string;
  values: Placed[];
  pos: Position;
}

/** One experiment, checked, for one device kind: the values of the settings it sets, and its sweeps. */
export interface ExperimentConfig {
  name: string;
  namePos: Position;
  measure: Measure;
  device: string;
  /** The checked values of the settings set (not swept), by name. */
  values: Map<string, unknown>;
  sweeps: SweepConfig[];
  /** Where each setting set or swept was written (its name). */
  where: Map<string, Position>;
}

/** Every setting name some measure takes. */
function knownSettings(): string[] {
  return [...new Set(allMeasures().flatMap((m) => Object.keys(settingsOf(m))))];
}

/** The items of an experiment as they apply on one device kind, by name. */
export function itemsFor(exp: Experiment, kind: DeviceKind): Map<string, Setting | Sweep> {
  const out = new Map<string, Setting | Sweep>();
  for (const i of exp.items) if (i.kind !== 'on' && !out.has(i.name)) out.set(i.name, i);
  const block = exp.items.find((i): i is OnBlock => i.kind === 'on' && i.target === kind);
  for (const i of block?.items ?? []) if (i.kind !== 'on') out.set(i.name, i);
  return out;
}

/** Errors of shape, independent of the device kind: duplicates, on-block misuse, stray items. */
export function checkStructure(file: VlabFile, sink: DiagnosticSink): void {
  for (const s of file.strays)
    sink.error(s.pos, 'syntax', `${s.kind === 'on' ? 'an on block' : s.kind === 'sweep' ? 'a sweep' : `the setting ${s.name}`} is outside any experiment`, 'put it inside experiment NAME { ... }');
  const names = new Map<string, Position>();
  for (const exp of file.experiments) {
    const first = names.get(exp.name);
    if (first) sink.error(exp.namePos, 'duplicate', `experiment ${exp.name} is already defined at ${first.line}:${first.column}`, 'give each experiment of a file its own name');
    else names.set(exp.name, exp.namePos);
    checkScope(exp.items, sink, null);
  }
}

function checkScope(items: Item[], sink: DiagnosticSink, on: OnBlock | null): void {
  const seen = new Map<string, Setting | Sweep>();
  const blocks = new Map<string, OnBlock>();
  for (const i of items) {
    if (i.kind === 'on') {
      if (on) {
        sink.error(i.pos, 'unsupported', 'on blocks do not nest', `move it out of on ${on.target} { ... }`);
        continue;
      }
      if (!(DEVICE_KINDS as readonly string[]).includes(i.target)) {
        sink.error(i.targetPos, 'unknown-name', `on ${i.target}: there is no device kind ${i.target}`, `use on cpu { ... } or on cuda { ... }${suggest(i.target, DEVICE_KINDS)}`);
        continue;
      }
      const prev = blocks.get(i.target);
      if (prev) sink.error(i.targetPos, 'duplicate', `on ${i.target} is already given at ${prev.pos.line}:${prev.pos.column}`, 'merge the two blocks');
      else blocks.set(i.target, i);
      checkScope(i.items, sink, i);
      continue;
    }
    if (on && (i.name === 'measure' || i.name === 'device'))
      sink.error(i.namePos, 'unsupported', `${i.name} cannot change inside on ${on.target} { ... }`, `set ${i.name} outside the block`);
    const prev = seen.get(i.name);
    if (prev) {
      const how = (x: Setting | Sweep) => (x.kind === 'sweep' ? 'swept' : 'set');
      sink.error(i.namePos, 'duplicate', `${i.name} is already ${how(prev)} at ${prev.namePos.line}:${prev.namePos.column}`, prev.kind === i.kind ? 'remove one of them' : 'a setting is either set or swept: remove one');
    } else seen.set(i.name, i);
  }
}

/** Expands a sweep's value (a list, or a range of numbers) into values read by the setting's reader. */
function sweepValues(sweep: Sweep, name: string, spec: SettingSpec, r: Reader): SweepConfig | undefined {
  const read = (x: Value): unknown => readSetting(name, spec, x, r);
  const v = sweep.values;
  let items: Value[];
  if (v.kind === 'list') {
    if (v.items.length === 0) return r.fail(v, 'range', `sweep ${name} has no values`, 'give at least one value');
    items = v.items;
  } else if (v.kind === 'range') {
    const from = read(v.from);
    const to = read(v.to);
    const step = v.step ? read(v.step) : 1;
    if (typeof from !== 'number' || typeof to !== 'number' || typeof step !== 'number') {
      if (from !== undefined && to !== undefined && (v.step === null || step !== undefined))
        return r.fail(v, 'type', `sweep ${name}: a range needs numbers, and ${name} is not a number`, 'give a list instead');
      return undefined;
    }
    if (v.step === null && v.from.unit !== null) return r.fail(v, 'missing', `sweep ${name}: a range of sizes needs a step`, `e.g. sweep ${name} in ${v.from.text} ${v.from.unit.name}..${v.to.text} ${v.to.unit?.name ?? ''} step ${v.from.text} ${v.from.unit.name}`);
    if (!(step > 0)) return r.fail(v.step ?? v, 'range', `sweep ${name}: the step must be larger than 0`);
    if (to < from) return r.fail(v, 'range', `sweep ${name}: the range runs backwards (${v.from.text} > ${v.to.text})`);
    const count = Math.floor((to - from) / step + 1e-9) + 1;
    if (count > 1000) return r.fail(v, 'range', `sweep ${name} has ${count} values, more than 1000`, 'use a larger step');
    const values = Array.from({ length: count }, (_, k) => ({ value: Number.isInteger(from) && Number.isInteger(step) ? from + k * step : Math.round((from + k * step) * 1e9) / 1e9, pos: v.pos }));
    return { name, values, pos: sweep.pos };
  } else return r.fail(v, 'type', `sweep ${name} needs a list ([a, b, c]) or a range (1..8 or 1..8 step 2), got a single value`, `for one value write ${name} = ...`);
  const values: Placed[] = [];
  let ok = true;
  for (const item of items) {
    const x = read(item);
    if (x === undefined) ok = false;
    else if (values.some((p) => JSON.stringify(p.value) === JSON.stringify(x))) ok = !!r.fail(item, 'duplicate', `sweep ${name} lists ${itemText(item)} twice`);
    else values.push({ value: x, pos: item.pos });
  }
  return ok ? { name, values, pos: sweep.pos } : undefined;
}

function itemText(v: Value): string {
  return v.kind === 'number' ? (v.unit ? `${v.text} ${v.unit.name}` : v.text) : v.kind === 'name' ? v.name : 'a value';
}

/**
 * Checks one experiment for one device kind (`device` overrides the file's device) and returns its
 * configuration, or undefined when it has errors (all reported to the sink).
 */
export function resolveExperiment(exp: Experiment, kind: DeviceKind, sink: DiagnosticSink, baseDir: string, device?: string): ExperimentConfig | undefined {
  const items = itemsFor(exp, kind);
  const before = sink.count;
  const measureItem = items.get('measure');
  let measure: Measure | undefined;
  if (!measureItem) sink.error(exp.namePos, 'missing', `experiment ${exp.name} has no measure`, `add measure = ${measureNames().join(' | ')}`);
  else if (measureItem.kind === 'sweep') sink.error(measureItem.pos, 'unsupported', 'measure cannot be swept', 'write one experiment per measure');
  else measure = findMeasure(readSetting('measure', MEASURE_SETTING, measureItem.value, new Reader(sink, baseDir, null)) as string);
  if (!measure) return undefined;
  const m = measure;
  const specs = settingsOf(m);
  const r = new Reader(sink, baseDir, m);
  const known = knownSettings();

  const values = new Map<string, unknown>();
  const sweeps: SweepConfig[] = [];
  const where = new Map<string, Position>();
  for (const [name, item] of items) {
    if (name === 'measure') continue;
    const spec = specs[name];
    if (!known.includes(name)) {
      sink.error(item.namePos, 'unknown-setting', `unknown setting ${name}`, `settings of ${m.name}: ${Object.keys(specs).join(', ')}${suggest(name, known)}`);
      continue;
    }
    if (!spec) {
      sink.error(item.namePos, 'unsupported', `${name} does not apply to measure ${m.name}`, `${name} is for ${measuresWith(name).join(', ')}`);
      continue;
    }
    where.set(name, item.namePos);
    if (item.kind === 'sweep') {
      if (!spec.sweep) {
        const sweepable = Object.entries(specs).filter(([, x]) => x.sweep).map(([n]) => n);
        sink.error(item.namePos, 'unsupported', `${name} cannot be swept`, `sweepable settings of ${m.name}: ${sweepable.join(', ')}`);
        continue;
      }
      const sw = sweepValues(item, name, spec, r);
      if (sw) sweeps.push(sw);
    } else {
      const x = readSetting(name, spec, item.value, r);
      if (x !== undefined) values.set(name, x);
    }
  }

  const limit = (values.get('max_points') as number | undefined) ?? (specs['max_points']?.default as number);
  const over = sweepOverflow(sweeps.map((sw) => sw.values.length), limit);
  if (over) {
    const { message, hint } = sweepOverflowMessage(sweeps.map((sw) => ({ name: sw.name, count: sw.values.length })), over.points, limit);
    sink.error((sweeps[over.at] as SweepConfig).pos, 'range', message, hint);
  }
  const cfg: ExperimentConfig = { name: exp.name, namePos: exp.namePos, measure: m, device: device ?? (values.get('device') as string | undefined) ?? 'cpu', values, sweeps, where };
  crossCheck(cfg, specs, sink);
  return sink.count === before ? cfg : undefined;
}

/** Every value a setting takes in the experiment: its fixed value, or its swept values. */
export function allValues(cfg: ExperimentConfig, name: string): Placed[] {
  const sw = cfg.sweeps.find((x) => x.name === name);
  if (sw) return sw.values;
  return cfg.values.has(name) ? [{ value: cfg.values.get(name), pos: cfg.where.get(name) as Position }] : [];
}

/** What a measure's validate() sees of the experiment. */
function viewOf(cfg: ExperimentConfig): SettingsView {
  return { experiment: cfg.name, has: (name) => cfg.where.has(name), values: (name) => allValues(cfg, name).map((p) => p.value) };
}

/**
 * A text prompt's ids under its model's tokenizer.json, or undefined with the problem reported at the
 * prompt: no tokenizer, one that cannot be read (what compiling would otherwise meet first), ids
 * outside the vocabulary, no tokens.
 */
export function textIds(p: { text: string; pos: Position }, model: ModelRef, sink: DiagnosticSink): number[] | undefined {
  if (!model.dir) {
    sink.error(p.pos, 'unsupported', `a text prompt needs a tokenizer, and ${model.label} has none`, 'synthetic models take a token count (512 tokens) or ids ([3, 17, 42])');
    return undefined;
  }
  try {
    if (!hasTokenizer(model.dir)) {
      sink.error(p.pos, 'reference', `a text prompt needs ${tokenizerPath(model.dir)}, which does not exist`, 'give a token count (512 tokens) or ids ([3, 17, 42])');
      return undefined;
    }
    const ids = encodeText(model.dir, p.text);
    if (ids.length > 0) return ids;
    sink.error(p.pos, 'range', 'the text tokenizes to no tokens');
  } catch (e) {
    if (!(e instanceof VramlabError)) throw e;
    sink.error(p.pos, 'reference', e.message);
  }
  return undefined;
}

/** Token ids inside the vocabulary; a text only through a tokenizer that reads and gives such ids. */
function checkPrompt(p: PromptSetting, model: ModelRef, sink: DiagnosticSink): void {
  if ('ids' in p)
    p.ids.forEach((id, i) => {
      if (id >= model.facts.vocab) sink.error(p.idPositions[i] as Position, 'reference', `token id ${id} is outside the vocabulary of ${model.label} (0..${model.facts.vocab - 1})`);
    });
  if ('text' in p) textIds(p, model, sink);
}

/**
 * Checks across settings: required settings, the measure's own rules, and the references into the
 * model of settings by their kind (layers, token ids, vector lengths, positions).
 */
function crossCheck(cfg: ExperimentConfig, specs: SettingSpecs, sink: DiagnosticSink): void {
  const m = cfg.measure;
  for (const [name, spec] of Object.entries(specs))
    if (spec.required && !cfg.where.has(name)) sink.error(cfg.namePos, 'missing', `experiment ${cfg.name} (measure ${m.name}) has no ${name}`, spec.required);
  m.validate?.(viewOf(cfg), (setting, code, message, hint) => sink.error((setting ? cfg.where.get(setting) : undefined) ?? cfg.namePos, code, message, hint));

  const model = cfg.values.get('model') as ModelRef | undefined;
  if (!model) return;
  const facts = model.facts;
  let prompt: [string, SettingSpec] | undefined;
  let generated: string | undefined;
  for (const [name, spec] of Object.entries(specs)) {
    const kind = spec.kind.type;
    for (const { value, pos } of allValues(cfg, name)) {
      if (kind === 'layer' && (value as number) >= facts.layers) sink.error(pos, 'reference', `${name} ${String(value)} is past the last layer of ${model.label} (layers 0..${facts.layers - 1})`);
      if (kind === 'prompt' || kind === 'activation') checkPrompt(value as PromptSetting, model, sink);
      const add = value as AddSetting;
      if (kind === 'vector' && 'values' in add && add.values.length !== facts.hidden)
        sink.error(add.pos, 'reference', `${name} has ${add.values.length} numbers, and the hidden size of ${model.label} is ${facts.hidden}`, 'give hidden-size numbers, or random(norm = N)');
    }
    if (kind === 'prompt') prompt ??= [name, spec];
    if (kind === 'generated') generated ??= name;
  }

  // The longest prompt and the most tokens generated must fit the model's positions.
  if (!prompt) return;
  const [promptName, promptSpec] = prompt;
  const lengthOf = (name: string, spec: SettingSpec | undefined, f: (v: unknown) => number): number => {
    const vs = allValues(cfg, name).map((p) => f(p.value));
    return Math.max(0, ...vs, vs.length === 0 && spec?.default !== undefined ? f(spec.default) : 0);
  };
  const longest = lengthOf(promptName, promptSpec, (v) => promptLength(v as PromptSetting) ?? 0);
  const most = generated ? lengthOf(generated, specs[generated], (v) => v as number) : 0;
  if (longest + most > facts.maxPositions) {
    const at = (generated ? cfg.where.get(generated) : undefined) ?? cfg.where.get(promptName) ?? cfg.namePos;
    const what = generated ? `the prompt (${longest} tokens) and ${generated} (${most}) run` : `the prompt (${longest} tokens) runs`;
    sink.error(at, 'range', `${what} past the ${facts.maxPositions} positions of ${model.label}`, 'shorten the prompt or generate fewer tokens');
  }
}
/** Checks every experiment of a file for its own device kind and for each kind it has an on block for. */
export function checkFile(file: VlabFile, sink: DiagnosticSink, baseDir: string): void {
  checkStructure(file, sink);
  for (const exp of file.experiments) {
    const deviceItem = exp.items.find((i): i is Setting => i.kind === 'setting' && i.name === 'device');
    const own = deviceItem?.value.kind === 'name' && deviceItem.value.name.startsWith('cuda') ? 'cuda' : 'cpu';
    const kinds = new Set<DeviceKind>([own]);
    for (const i of exp.items) if (i.kind === 'on' && (DEVICE_KINDS as readonly string[]).includes(i.target)) kinds.add(i.target as DeviceKind);
    for (const kind of kinds) resolveExperiment(exp, kind, sink, baseDir);
  }
}
