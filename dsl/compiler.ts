// compiler.ts: a checked experiment (checker.ts) -> its ExperimentPlan: the values as the lab takes
// them (lab/build.ts fills in the defaults, expands the sweeps and hands each point to the measure),
// text prompts tokenized with the model's tokenizer.json first.
import type { Experiment, Setting } from './ast.js';
import { type ExperimentConfig, resolveExperiment, textIds } from './checker.js';
import type { DiagnosticSink } from './diagnostics.js';
import type { AddSetting, ModelRef, PromptSetting } from './settings.js';
import { buildExperimentSteps } from '../lab/build.js';
import type { RunnableExperiment } from '../lab/plan.js';
import type { ModelValue, PromptValue, SettingSpec, SettingValue } from '../lab/settings.js';
import { settingsOf } from '../lab/registry.js';
import { deviceKind, isDeviceName } from '../runtime/device.js';

/** The device an experiment names (its `device` setting), or cpu. */
export function ownDevice(exp: Experiment): string {
  const d = exp.items.find((i): i is Setting => i.kind === 'setting' && i.name === 'device');
  return d?.value.kind === 'name' && isDeviceName(d.value.name) ? d.value.name : 'cpu';
}

/** A text prompt's ids under the model's tokenizer (errors reported); ids and counts as they are. */
function promptValue(p: PromptSetting, model: ModelRef | undefined, sink: DiagnosticSink): PromptValue | undefined {
  if ('tokens' in p) return { tokens: p.tokens };
  if ('ids' in p) return { ids: p.ids };
  const ids = model && textIds(p, model, sink);
  return ids && { ids, text: p.text };
}

/** A checked value as the lab takes it: positions and model facts left behind. */
function labValue(spec: SettingSpec, v: unknown, cfg: ExperimentConfig, sink: DiagnosticSink): SettingValue | undefined {
  switch (spec.kind.type) {
    case 'model': {
      const m = v as ModelRef;
      return { source: m.source, label: m.label } satisfies ModelValue;
    }
    case 'prompt':
    case 'activation':
      return promptValue(v as PromptSetting, cfg.values.get('model') as ModelRef | undefined, sink);
    case 'vector': {
      const a = v as AddSetting;
      return 'values' in a ? { values: a.values } : { norm: a.norm, seed: a.seed };
    }
    default:
      return v as SettingValue;
  }
}

/**
 * The plan of one experiment on `device` (default: the experiment's own), its steps made as they are
 * read (every point compiled once first, for its errors), or undefined on errors.
 */
export function compileExperiment(exp: Experiment, sink: DiagnosticSink, baseDir: string, device?: string): RunnableExperiment | undefined {
  const dev = device ?? ownDevice(exp);
  const cfg = resolveExperiment(exp, deviceKind(dev), sink, baseDir, dev);
  if (!cfg) return undefined;
  const before = sink.count;
  const specs = settingsOf(cfg.measure);
  const settings: Record<string, SettingValue> = { device: cfg.device };
  for (const [name, v] of cfg.values) {
    if (name === 'device') continue;
    const x = labValue(specs[name] as SettingSpec, v, cfg, sink);
    if (x !== undefined) settings[name] = x;
  }
  const sweeps = cfg.sweeps.map((sw) => ({
    name: sw.name,
    values: sw.values.map((p) => labValue(specs[sw.name] as SettingSpec, p.value, cfg, sink)).filter((x): x is SettingValue => x !== undefined),
  }));
  if (sink.count > before) return undefined;
  const plan = buildExperimentSteps({ name: cfg.name, measure: cfg.measure.name, settings, sweeps }, (setting, code, message, hint) =>
    sink.error((setting ? cfg.where.get(setting) : undefined) ?? cfg.namePos, code, message, hint),
  );
  return sink.count > before ? undefined : plan;
}
