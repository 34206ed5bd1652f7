// overrides.ts: settings given on the command line (`vramlab run FILE --set budget=24GB --set
// sessions=[1,2]`), read as .vlab text and put in place of the file's own: a `--set NAME=VALUE`
// replaces NAME wherever the experiment sets or sweeps it (its on cpu / on cuda blocks too), in every
// experiment whose measure takes NAME. A list or a range for a setting that is not itself a list
// (sessions, budget, layer, ...) sweeps it. Diagnostics of an override name the flag
// (`--set budget=24: error: budget needs a unit: 24 what?`), and the checker's rules apply as in a file.
import type { Experiment, Item, Setting, Sweep, VlabFile } from './ast.js';
import { type Diagnostic, DiagnosticSink } from './diagnostics.js';
import { parseVlab } from './parse.js';
import { suggest } from './settings.js';
import { findMeasure, settingsOf } from '../lab/registry.js';
import type { Measure } from '../lab/measure.js';
import type { SettingKind } from '../lab/settings.js';

/** Setting kinds whose value is a list in itself: a list given for them is their value, not a sweep. */
const LIST_KINDS: ReadonlySet<SettingKind['type']> = new Set(['baselines', 'metrics', 'prompt', 'vector']);

/** One `--set` parsed: the setting it writes (a plain setting; made a sweep per experiment as its kind asks). */
interface Override {
  flag: string;
  setting: Setting;
}

/** Marks every position under `node` as the flag's, so that its diagnostics name the flag. */
function stamp(node: unknown, source: string): void {
  if (typeof node !== 'object' || node === null) return;
  const o = node as Record<string, unknown>;
  if (typeof o['line'] === 'number' && typeof o['offset'] === 'number') o['source'] = source;
  for (const v of Object.values(o)) stamp(v, source);
}

/** Reads `--set` texts; their syntax errors go to the returned diagnostics. */
function parseOverrides(texts: readonly string[]): { overrides: Override[]; diagnostics: Diagnostic[] } {
  const overrides: Override[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const text of texts) {
    const flag = `--set ${text}`;
    const parsed = parseVlab(text, flag);
    const item = parsed.ast.strays[0];
    if (parsed.diagnostics.length > 0) diagnostics.push(...parsed.diagnostics.map((d) => ({ ...d, message: d.message.replace('the end of the file', 'the end of the value') })));
    else if (parsed.ast.experiments.length > 0 || parsed.ast.strays.length !== 1 || item?.kind !== 'setting')
      diagnostics.push({ file: flag, line: 1, column: 1, offset: 0, length: text.length, severity: 'error', code: 'syntax', message: `"${text}" is not NAME=VALUE`, hint: 'e.g. --set budget=24GB or --set sessions=[1,2] (a list sweeps the setting)' });
    else {
      stamp(item, flag);
      overrides.push({ flag, setting: item });
    }
  }
  return { overrides, diagnostics };
}

/** The measure an experiment names, when it names one the registry has. */
function measureOf(exp: Experiment) {
  const m = exp.items.find((i): i is Setting => i.kind === 'setting' && i.name === 'measure');
  return m?.value.kind === 'name' ? findMeasure(m.value.name) : undefined;
}

/** `items` without NAME (in on blocks too), then the override. */
function replaced(items: readonly Item[], name: string): Item[] {
  return items.filter((i) => i.kind === 'on' || i.name !== name).map((i) => (i.kind === 'on' ? { ...i, items: replaced(i.items, name) } : i));
}

/**
 * The file with the `--set` overrides in place of its settings, and the overrides' diagnostics: text
 * that is not NAME=VALUE, or a NAME that no experiment of the file takes.
 */
export function applyOverrides(file: VlabFile, texts: readonly string[]): { file: VlabFile; diagnostics: Diagnostic[] } {
  const { overrides, diagnostics } = parseOverrides(texts);
  let experiments = file.experiments;
  for (const { flag, setting } of overrides) {
    let taken = false;
    experiments = experiments.map((exp) => {
      const m = measureOf(exp);
      const spec = m ? settingsOf(m)[setting.name] : undefined;
      if (setting.name !== 'measure' && m && !spec) return exp;
      taken = true;
      const sweeps = spec?.sweep && !LIST_KINDS.has(spec.kind.type) && (setting.value.kind === 'list' || setting.value.kind === 'range');
      const item: Setting | Sweep = sweeps ? { kind: 'sweep', name: setting.name, namePos: setting.namePos, values: setting.value, pos: setting.pos } : setting;
      return { ...exp, items: [...replaced(exp.items, setting.name), item] };
    });
    if (!taken) {
      const known = file.experiments.map(measureOf).filter((m): m is Measure => m !== undefined);
      const names = [...new Set(known.flatMap((m) => Object.keys(settingsOf(m))))];
      const measures = [...new Set(known.map((m) => m.name))].join(', ');
      const sink = new DiagnosticSink(flag);
      sink.error(setting.namePos, 'unknown-setting', `no experiment of the file takes ${setting.name} (measure ${measures})`, `settings: ${names.join(', ')}${suggest(setting.name, names)}`);
      diagnostics.push(...sink.list());
    }
  }
  return { file: { ...file, experiments }, diagnostics };
}
