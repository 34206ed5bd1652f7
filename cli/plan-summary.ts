// plan-summary.ts: `vramlab plan FILE` as a person reads it: each experiment's measure and model, its
// steps and runs, its sweeps, the settings it sets away from their defaults (as written), and what a
// step would hold in device memory (the native planner's figures for each distinct load, without
// loading anything). `vramlab plan --json` prints the plan itself, step by step (plan-json.ts).
//
//   experiments/decode.vlab on cpu: 2 experiments, 5 steps, 13 runs
//   decode: measure decode, model synthetic(tiny)
//     steps      2 (baselines kv-cache, stateless), 6 runs: 1 warm-up + 2 measured each
//     settings   prompt = 24 tokens, new_tokens = 8, repeat = 2
//     memory     a step holds about 1.91 MB: weights 1.21 MB, KV pool 64 tokens 0.13 MB, ...
import type { ExperimentSummary } from '../dsl/index.js';
import { counted } from '../lab/columns.js';
import { type LoadPlan, type RunnablePlan, type Step } from '../lab/plan.js';
import { measureNamed } from '../lab/registry.js';
import { VramlabError } from '../runtime/errors.js';
import type { ModelDescription } from '../runtime/types.js';
import { formatSize } from '../runtime/units.js';

/** Most distinct loads of an experiment whose memory is described (a sweep of budgets has one each). */
const MOST_LOADS = 4;

/** Describes a load as the plan's device would hold it. */
export type Describe = (load: LoadPlan) => Promise<ModelDescription>;

/** What a load of `load` holds on the device and what a step adds, in a line. */
async function memoryLine(describe: Describe, load: LoadPlan): Promise<string> {
  const d = await describe(load);
  const ring = d.placement.streamedLayers > 0 ? `, a ${formatSize(d.placement.ringBytes)} ring for ${d.placement.streamedLayers} streamed layers` : '';
  const fits = d.vram.fits ? '' : `; does not fit the budget: ${formatSize(d.vram.short)} short`;
  return `${formatSize(d.vram.need)} (weights ${formatSize(d.placement.residentBytes)}${ring}, KV pool ${d.kv.poolTokens} tokens ${formatSize(d.kv.poolBytes)}), and a step of up to ${d.vram.maxStepTokens} tokens ${formatSize(d.vram.workspaceBytes)} of activations${fits}`;
}

/** The distinct loads of an experiment's steps, in order, at most MOST_LOADS, each named by its first step's sweep point; and how many in all. */
function loadsOf(steps: Iterable<Step>): { loads: { load: LoadPlan; label: string }[]; count: number } {
  const seen = new Map<string, { load: LoadPlan; label: string }>();
  for (const s of steps) {
    const load = s['load'] as LoadPlan | undefined;
    const key = JSON.stringify(load);
    if (!load || seen.has(key)) continue;
    const point = Object.entries(s.point).map(([k, v]) => `${k}=${v}`).join(' ');
    seen.set(key, { load, label: [s.op, s.baseline, point].filter(Boolean).join(' ') });
  }
  return { loads: [...seen.values()].slice(0, MOST_LOADS), count: seen.size };
}

/**
 * The plan in lines; `planner` gives a device's describe (the device's own runtime, or a plan for a
 * device this machine lacks, said in `note`) and a release for it.
 */
export async function planSummary(plan: RunnablePlan, summaries: readonly ExperimentSummary[], planner: (device: string) => Promise<{ describe: Describe; note: string; release: () => void }>): Promise<string> {
  const lines: string[] = [];
  let steps = 0;
  let runs = 0;
  const devices = new Set(plan.experiments.map((e) => e.device));
  for (const e of plan.experiments) {
    const m = measureNamed(e.measure);
    let n = 0;
    let once = 0;
    for (const s of e.steps) {
      n++;
      if (m.once?.(s)) once++;
    }
    const measured = n - once;
    steps += n;
    runs += once + measured * (e.warmup + e.repeat);
    const summary = summaries.find((x) => x.name === e.name);
    lines.push(`${e.name}: measure ${e.measure}${e.model ? `, model ${e.model}` : ''}`);
    const baselines = summary?.baselines ? ` (baselines ${summary.baselines.join(', ')})` : '';
    const oneOff = once > 0 ? ` and ${counted(once, 'reference or probe run')}` : '';
    lines.push(`  steps      ${n.toLocaleString('en-US')}${baselines}: ${(measured * (e.warmup + e.repeat)).toLocaleString('en-US')} runs (${e.warmup} warm-up + ${e.repeat} measured a step)${oneOff}`);
    if (summary && summary.sweeps.length > 0) lines.push(`  sweeps     ${summary.sweeps.map((sw) => `${sw.name} in ${sw.text} (${sw.count})`).join(' x ')}`);
    if (summary && summary.settings.length > 0) lines.push(`  settings   ${summary.settings.map((x) => `${x.name} = ${x.text}`).join(', ')}`);
    const { loads, count } = loadsOf(e.steps);
    if (loads.length > 0) {
      const { describe, note, release } = await planner(e.device);
      lines.push(`  memory     what the model's load holds on the device${note}:`);
      try {
        for (const { load, label } of loads) {
          let line: string;
          try {
            line = await memoryLine(describe, load);
          } catch (err) {
            if (!(err instanceof VramlabError)) throw err;
            line = `cannot be planned: ${err.message}`;
          }
          lines.push(`             ${label}: ${line}`);
        }
      } finally {
        release();
      }
      if (count > loads.length) lines.push(`             and ${counted(count - loads.length, 'other load')}`);
    }
  }
  const head = `${plan.file} on ${[...devices].join(', ')}: ${counted(plan.experiments.length, 'experiment')}, ${counted(steps, 'step')}, ${counted(runs, 'run')}`;
  return [head, ...lines].join('\n') + '\n';
}
