// compiler.ts: checked experiment configurations -> a Plan (runtime/plan.ts): defaults filled in,
// sweeps expanded (every combination of the swept values, in the order the file lists the sweeps),
// one step per sweep point and baseline, text prompts tokenized with the model's tokenizer.json.
import type { Experiment, Setting } from './ast.js';
import { deviceKind, type DeviceKind, type ExperimentConfig, resolveExperiment } from './checker.js';
import type { DiagnosticSink } from './diagnostics.js';
import { encodeText } from './models.js';
import type { PromptSetting, Settings } from './settings.js';
import { VramlabError } from '../runtime/errors.js';
import type { EditPlan, ExperimentPlan, LoadPlan, PromptPlan, Step, SweepPoint } from '../lab/plan.js';
import type { Placement } from '../runtime/types.js';

export const DEFAULT_PROMPT_TOKENS = 128;
export const DEFAULT_NEW_TOKENS = 16;
export const DEFAULT_COPY_BYTES = 2 ** 30;
export const DEFAULT_COPIES = 5;
export const DEFAULT_PROBE_BYTES = 256 * 2 ** 20;
export const DEFAULT_KV_BLOCK = 16;

/** The device an experiment names (its `device` setting), or cpu. */
export function ownDevice(exp: Experiment): string {
  const d = exp.items.find((i): i is Setting => i.kind === 'setting' && i.name === 'device');
  return d?.value.kind === 'name' && (d.value.name === 'cpu' || /^cuda:\d+$/.test(d.value.name)) ? d.value.name : 'cpu';
}

/** Every combination of the swept values: configurations with the values in place, and the points. */
function sweepPoints(cfg: ExperimentConfig): { cfg: ExperimentConfig; point: SweepPoint }[] {
  let out: { cfg: ExperimentConfig; point: SweepPoint }[] = [{ cfg, point: {} }];
  for (const sw of cfg.sweeps) {
    out = out.flatMap(({ cfg: c, point }) =>
      sw.values.map(({ value }) => ({ cfg: { ...c, [sw.name]: value }, point: { ...point, [sw.name]: pointValue(value) } })),
    );
  }
  return out;
}

function pointValue(v: Settings[keyof Settings]): number | string {
  if (typeof v === 'number' || typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && 'tokens' in v) return v.tokens;
  if (typeof v === 'object' && v !== null && 'ids' in v) return v.ids.length;
  return JSON.stringify(v);
}

function promptPlan(p: PromptSetting | undefined, cfg: ExperimentConfig, sink: DiagnosticSink): PromptPlan | undefined {
  if (!p) return { tokens: DEFAULT_PROMPT_TOKENS, seed: cfg.seed };
  if ('tokens' in p) return { tokens: p.tokens, seed: cfg.seed };
  if ('ids' in p) return { ids: p.ids };
  const model = cfg.model;
  if (!model?.dir) return undefined; // the checker reported it
  let ids: number[];
  try {
    ids = encodeText(model.dir, p.text);
  } catch (e) {
    if (!(e instanceof VramlabError)) throw e;
    sink.error(p.pos, 'reference', e.message);
    return undefined;
  }
  const bad = ids.find((id) => id >= model.facts.vocab);
  if (bad !== undefined) {
    sink.error(p.pos, 'reference', `the tokenizer gives id ${bad}, outside the vocabulary of ${model.label} (0..${model.facts.vocab - 1})`, 'the tokenizer.json does not belong to this model');
    return undefined;
  }
  if (ids.length === 0) {
    sink.error(p.pos, 'range', 'the text tokenizes to no tokens');
    return undefined;
  }
  return { ids, text: p.text };
}

function promptTokens(p: PromptPlan): number {
  return 'tokens' in p ? p.tokens : p.ids.length;
}

function editPlan(cfg: ExperimentConfig, sink: DiagnosticSink): EditPlan | null | undefined {
  const edit: EditPlan = {};
  if (cfg.scale !== undefined) edit.scale = cfg.scale;
  if (cfg.add) edit.add = 'values' in cfg.add ? { values: cfg.add.values } : { norm: cfg.add.norm, seed: cfg.add.seed };
  if (cfg.replace) {
    const p = promptPlan(cfg.replace, cfg, sink);
    if (!p) return undefined;
    edit.replace = p;
  }
  return Object.keys(edit).length > 0 ? edit : null;
}

/** The runtime and model of a step; the KV pool holds `sessions` sessions of `tokens` tokens by default. */
function loadPlan(cfg: ExperimentConfig, placement: Placement, tokens: number, sessions: number): LoadPlan {
  const block = cfg.kv_block ?? DEFAULT_KV_BLOCK;
  return {
    model: cfg.model?.source ?? '',
    budget: cfg.budget ?? null,
    placement,
    ring: placement === 'resident' ? null : (cfg.ring ?? null),
    prefetch: placement === 'resident' ? null : (cfg.prefetch ?? null),
    kvPoolTokens: cfg.kv_pool ?? sessions * Math.ceil(tokens / block) * block,
    kvBlockTokens: block,
  };
}

function stepsOf(c: ExperimentConfig, point: SweepPoint, sink: DiagnosticSink, references: Set<string>): Step[] {
  const m = c.measure;
  if (m === 'copy_bandwidth')
    return c.baselines.map((b) => ({ op: 'copy', baseline: b as 'pinned' | 'pageable', bytes: c.size ?? DEFAULT_COPY_BYTES, copies: c.copies ?? DEFAULT_COPIES, point }));
  const prompt = promptPlan(c.prompt, c, sink);
  if (!prompt) return [];
  const newTokens = c.new_tokens ?? DEFAULT_NEW_TOKENS;
  const tokens = promptTokens(prompt) + (m === 'breakpoints' ? 0 : newTokens);
  const placement = c.placement ?? 'resident';
  switch (m) {
    case 'streaming': {
      const steps: Step[] = [];
      const key = JSON.stringify(prompt);
      if (!references.has(key)) {
        references.add(key);
        steps.push({ op: 'reference', load: { ...loadPlan(c, 'resident', promptTokens(prompt), 1), budget: null }, prompt, point });
      }
      for (const b of c.baselines) steps.push({ op: 'stream', baseline: b as Placement, load: loadPlan(c, b as Placement, tokens, 1), prompt, newTokens, point });
      return steps;
    }
    case 'decode': {
      const sessions = c.sessions ?? 1;
      return c.baselines.map((b) => ({ op: 'decode', baseline: b as 'kv-cache' | 'stateless', load: loadPlan(c, placement, tokens, sessions), prompt, newTokens, sessions, point }));
    }
    case 'breakpoints': {
      const edit = editPlan(c, sink);
      if (edit === undefined) return [];
      if (edit?.replace && promptTokens(edit.replace) !== promptTokens(prompt)) {
        sink.error(c.replace?.pos ?? c.namePos, 'reference', `activation(...) has ${promptTokens(edit.replace)} tokens, and the prompt has ${promptTokens(prompt)}`, 'patching replaces the activation position by position: give prompts of the same length');
        return [];
      }
      // Two sessions: the paused one and, for replace, the one whose activation is taken.
      return c.baselines.map((b) => ({ op: 'breakpoint', baseline: b as 'resume' | 'recompute' | 'offload', load: loadPlan(c, placement, tokens, 2), prompt, layer: c.layer ?? 0, edit, point }));
    }
    case 'steering': {
      const edit = editPlan(c, sink);
      if (!edit) return [];
      return [{ op: 'steer', load: loadPlan(c, placement, tokens, 1), prompt, newTokens, layer: c.layer ?? 0, edit, point }];
    }
  }
}

/** The plan of one experiment on `device` (default: the experiment's own), or undefined on errors. */
export function compileExperiment(exp: Experiment, sink: DiagnosticSink, baseDir: string, device?: string): ExperimentPlan | undefined {
  const dev = device ?? ownDevice(exp);
  const kind: DeviceKind = deviceKind(dev);
  const cfg = resolveExperiment(exp, kind, sink, baseDir, dev);
  if (!cfg) return undefined;
  const before = sink.count;
  const references = new Set<string>();
  const steps = sweepPoints(cfg).flatMap(({ cfg: c, point }) => stepsOf(c, point, sink, references));
  if (sink.count > before) return undefined;
  return {
    name: cfg.name,
    measure: cfg.measure,
    device: cfg.device,
    model: cfg.model?.label ?? null,
    repeat: cfg.repeat,
    warmup: cfg.warmup,
    timeLimitMs: cfg.time_limit ?? null,
    metrics: cfg.metrics,
    probeBytes: cfg.measure === 'streaming' ? (cfg.probe ?? DEFAULT_PROBE_BYTES) : null,
    tolerance: cfg.tolerance,
    steps,
  };
}
