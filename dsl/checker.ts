// checker.ts: from the AST to checked experiment configurations, with a diagnostic for every problem
// it can find: unknown or misplaced settings, types, units, ranges, references (layers, token ids,
// files) and combinations the runtime does not support. An experiment has one configuration per
// device kind it can run on: its settings, with those of `on cpu { ... }` or `on cuda { ... }`
// replacing them when it runs there.
import { existsSync } from 'node:fs';
import type { Experiment, Item, OnBlock, Setting, Sweep, Value, VlabFile } from './ast.js';
import { type DiagnosticSink, type Position } from './diagnostics.js';
import { tokenizerPath } from './models.js';
import { Reader, SETTING_NAMES, type SettingName, SETTINGS, type Settings, suggest } from './settings.js';
import { BASELINES, type Measure, METRICS } from '../lab/plan.js';

export type DeviceKind = 'cpu' | 'cuda';
export const DEVICE_KINDS: readonly DeviceKind[] = ['cpu', 'cuda'];

export function deviceKind(device: string): DeviceKind {
  return device === 'cpu' ? 'cpu' : 'cuda';
}

/** A swept setting: its values, each with where it was written. */
export interface SweepConfig<K extends SettingName = SettingName> {
  name: K;
  values: { value: Settings[K]; pos: Position }[];
  pos: Position;
}

/** One experiment, checked, for one device kind; missing optional settings are absent. */
export type ExperimentConfig = Partial<Settings> & {
  name: string;
  namePos: Position;
  measure: Measure;
  device: string;
  baselines: string[];
  metrics: string[];
  repeat: number;
  warmup: number;
  seed: number;
  tolerance: number;
  sweeps: SweepConfig[];
};

/** The items of an experiment as they apply on one device kind, by name. */
function itemsFor(exp: Experiment, kind: DeviceKind): Map<string, Setting | Sweep> {
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
function sweepValues<K extends SettingName>(sweep: Sweep, name: K, r: Reader): SweepConfig<K> | undefined {
  const spec = SETTINGS[name];
  const v = sweep.values;
  let items: Value[];
  if (v.kind === 'list') {
    if (v.items.length === 0) return r.fail(v, 'range', `sweep ${name} has no values`, 'give at least one value');
    items = v.items;
  } else if (v.kind === 'range') {
    const from = spec.read(v.from, r) as unknown;
    const to = spec.read(v.to, r) as unknown;
    const step = v.step ? (spec.read(v.step, r) as unknown) : 1;
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
    const values = Array.from({ length: count }, (_, k) => ({ value: (Number.isInteger(from) && Number.isInteger(step) ? from + k * step : Math.round((from + k * step) * 1e9) / 1e9) as Settings[K], pos: v.pos }));
    return { name, values, pos: sweep.pos };
  } else return r.fail(v, 'type', `sweep ${name} needs a list ([a, b, c]) or a range (1..8 or 1..8 step 2), got a single value`, `for one value write ${name} = ...`);
  const values: { value: Settings[K]; pos: Position }[] = [];
  let ok = true;
  for (const item of items) {
    const x = spec.read(item, r);
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
  const r0 = new Reader(sink, baseDir, null);
  let measure: Measure | undefined;
  if (!measureItem) sink.error(exp.namePos, 'missing', `experiment ${exp.name} has no measure`, `add measure = ${Object.keys(METRICS).join(' | ')}`);
  else if (measureItem.kind === 'sweep') sink.error(measureItem.pos, 'unsupported', 'measure cannot be swept', 'write one experiment per measure');
  else measure = SETTINGS.measure.read(measureItem.value, r0);
  if (!measure) return undefined;
  const m: Measure = measure;
  const r = new Reader(sink, baseDir, m);

  const values: Partial<Settings> = {};
  const sweeps: SweepConfig[] = [];
  const where = new Map<SettingName, Position>();
  for (const [name, item] of items) {
    if (name === 'measure') continue;
    if (!(SETTING_NAMES as string[]).includes(name)) {
      sink.error(item.namePos, 'unknown-setting', `unknown setting ${name}`, `settings of ${measure}: ${SETTING_NAMES.filter((n) => applies(n, m)).join(', ')}${suggest(name, SETTING_NAMES)}`);
      continue;
    }
    const key = name as SettingName;
    const spec = SETTINGS[key];
    if (!applies(key, measure)) {
      sink.error(item.namePos, 'unsupported', `${name} does not apply to measure ${measure}`, `${name} is for ${spec.measures?.join(', ')}`);
      continue;
    }
    where.set(key, item.namePos);
    if (item.kind === 'sweep') {
      if (!spec.sweep) {
        sink.error(item.namePos, 'unsupported', `${name} cannot be swept`, `sweepable settings of ${measure}: ${SETTING_NAMES.filter((n) => SETTINGS[n].sweep && applies(n, m)).join(', ')}`);
        continue;
      }
      const sw = sweepValues(item, key, r);
      if (sw) sweeps.push(sw);
    } else {
      const x = spec.read(item.value, r);
      if (x !== undefined) (values as Record<string, unknown>)[key] = x;
    }
  }

  const cfg: ExperimentConfig = {
    ...values,
    name: exp.name,
    namePos: exp.namePos,
    measure,
    device: device ?? values.device ?? 'cpu',
    baselines: values.baselines ?? [...BASELINES[measure]],
    metrics: values.metrics ?? [...METRICS[measure]],
    repeat: values.repeat ?? 3,
    warmup: values.warmup ?? 1,
    seed: values.seed ?? 1,
    tolerance: values.tolerance ?? 1e-3,
    sweeps,
  };
  crossCheck(cfg, where, exp, sink);
  return sink.count === before ? cfg : undefined;
}

function applies(name: SettingName, measure: Measure): boolean {
  const m = SETTINGS[name].measures;
  return m === null || m.includes(measure);
}

/** Every value a setting takes in the experiment: its fixed value, or its swept values. */
function allValues<K extends SettingName>(cfg: ExperimentConfig, name: K, where: Map<SettingName, Position>): { value: Settings[K]; pos: Position }[] {
  const sw = cfg.sweeps.find((s): s is SweepConfig<K> => s.name === name);
  if (sw) return sw.values;
  const v = cfg[name] as Settings[K] | undefined;
  return v === undefined ? [] : [{ value: v, pos: where.get(name) as Position }];
}

function promptLength(p: Settings['prompt']): number | null {
  return 'tokens' in p ? p.tokens : 'ids' in p ? p.ids.length : null;
}

/** Checks across settings: references into the model, required settings, unsupported combinations. */
function crossCheck(cfg: ExperimentConfig, where: Map<SettingName, Position>, exp: Experiment, sink: DiagnosticSink): void {
  const m = cfg.measure;
  const needsModel = SETTINGS.model.measures?.includes(m) ?? false;
  if (needsModel && !cfg.model && !where.has('model')) sink.error(exp.namePos, 'missing', `experiment ${exp.name} (measure ${m}) has no model`, 'add model = synthetic(llama-7b) or model = "path/to/model-dir"');
  if ((m === 'breakpoints' || m === 'steering') && !where.has('layer')) sink.error(exp.namePos, 'missing', `experiment ${exp.name} (measure ${m}) has no layer`, 'add layer = N (or sweep layer in [...]), counting layers from 0');
  if (m === 'steering' && !where.has('scale') && !where.has('add')) sink.error(exp.namePos, 'missing', `experiment ${exp.name} (measure steering) has no edit`, 'add scale = 0.9 and/or add = random(norm = 4)');
  if (where.has('replace') && (where.has('scale') || where.has('add')))
    sink.error(where.get('replace') as Position, 'unsupported', 'replace cannot be combined with scale or add', 'replace sets the whole activation: remove scale and add, or replace');

  // Streamed placements only: ring and prefetch do nothing on resident layers.
  if (m !== 'streaming') {
    const placements = allValues(cfg, 'placement', where).map((p) => p.value);
    const streamed = placements.some((p) => p !== 'resident');
    for (const k of ['ring', 'prefetch'] as const)
      if (where.has(k) && !streamed)
        sink.error(where.get(k) as Position, 'unsupported', `${k} applies to streamed layers, and placement is ${placements[0] ?? 'resident'}`, 'set placement = stream, stream-sync or auto, or remove it');
  }

  const facts = cfg.model?.facts;
  if (!facts) return;
  for (const { value, pos } of allValues(cfg, 'layer', where))
    if (value >= facts.layers) sink.error(pos, 'reference', `layer ${value} is past the last layer of ${cfg.model?.label} (layers 0..${facts.layers - 1})`);
  const prompts = [...allValues(cfg, 'prompt', where).map((p) => ({ ...p, what: 'prompt' })), ...allValues(cfg, 'replace', where).map((p) => ({ ...p, what: 'activation(...)' }))];
  for (const { value } of prompts) {
    if ('ids' in value)
      value.ids.forEach((id, i) => {
        if (id >= facts.vocab) sink.error(value.idPositions[i] as Position, 'reference', `token id ${id} is outside the vocabulary of ${cfg.model?.label} (0..${facts.vocab - 1})`);
      });
    if ('text' in value) {
      if (!cfg.model?.dir) sink.error(value.pos, 'unsupported', `a text prompt needs a tokenizer, and ${cfg.model?.label} has none`, 'synthetic models take a token count (512 tokens) or ids ([3, 17, 42])');
      else if (!existsSync(tokenizerPath(cfg.model.dir))) sink.error(value.pos, 'reference', `a text prompt needs ${tokenizerPath(cfg.model.dir)}, which does not exist`, 'give a token count (512 tokens) or ids ([3, 17, 42])');
    }
  }
  const add = cfg.add;
  if (add && 'values' in add && add.values.length !== facts.hidden)
    sink.error(add.pos, 'reference', `add has ${add.values.length} numbers, and the hidden size of ${cfg.model?.label} is ${facts.hidden}`, 'give hidden-size numbers, or random(norm = N)');
  if (cfg.replace) {
    const want = allValues(cfg, 'prompt', where).map((p) => promptLength(p.value));
    const have = promptLength(cfg.replace);
    if (have !== null && want.some((w) => w !== null && w !== have))
      sink.error(cfg.replace.pos, 'reference', `activation(...) has ${have} tokens, and the prompt has ${want.find((w) => w !== have)}`, 'patching replaces the activation position by position: give prompts of the same length');
  }
  const longestPrompt = Math.max(0, ...allValues(cfg, 'prompt', where).map((p) => promptLength(p.value) ?? 0), cfg.prompt === undefined && !cfg.sweeps.some((s) => s.name === 'prompt') ? 128 : 0);
  const mostNew = Math.max(0, ...allValues(cfg, 'new_tokens', where).map((p) => p.value));
  if (longestPrompt + mostNew > facts.maxPositions) {
    const at = where.get('new_tokens') ?? where.get('prompt') ?? exp.namePos;
    sink.error(at, 'range', `the prompt (${longestPrompt} tokens) and new_tokens (${mostNew}) run past the ${facts.maxPositions} positions of ${cfg.model?.label}`, 'shorten the prompt or generate fewer tokens');
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
