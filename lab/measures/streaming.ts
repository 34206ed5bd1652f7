// streaming.ts: the streaming measure (seeds 000-002): weights larger than the VRAM budget stream
// through a ring buffer. Each run is a prefill and greedy decode steps (`new_tokens` tokens in all)
// under one placement (the baseline); the rows give the effective bandwidth (weight bytes streamed /
// wall time of the passes), latency, peak VRAM and the logits' relative error against a resident run
// of the same weights without a budget (the reference step, run once per prompt). The pinned and
// pageable host-to-device bandwidth of the machine is probed in the same run (the probe step).
import type { Data } from 'plotly.js-dist-min';
import { VramlabError } from '../../runtime/errors.js';
import type { Logits } from '../../runtime/logits.js';
import type { Session } from '../../runtime/session.js';
import type { MemoryInfo, Placement, StepStats } from '../../runtime/types.js';
import { columnTitle, numberFormat, sizeUnit, timeUnit } from '../columns.js';
import { barLabel, barLayout, bars, barTops, type Figure, fixed, groupBy, hline, inUnit, layout, measured, missingNote, points, runsNote, swept } from '../figures.js';
import { promptIds } from '../inputs.js';
import type { Measure } from '../measure.js';
import { type LoadPlan, type PromptPlan, promptTokens, type Step } from '../plan.js';
import type { ResultRow, Results, TimelineEntry } from '../results.js';
import { BASELINES_SETTING, MODEL_SETTINGS, NEW_TOKENS_SETTING } from '../settings.js';
import { mean, relativeError } from '../stats.js';

/** The machine's pinned and pageable host-to-device bandwidth with copies of `bytes`: once, before the rest. */
export interface ProbeStep extends Step {
  op: 'probe';
  bytes: number;
}

/** The resident run without a budget whose logits the streaming rows are checked against. */
export interface ReferenceStep extends Step {
  op: 'reference';
  load: LoadPlan;
  prompt: PromptPlan;
  newTokens: number;
}

/** A prefill then greedy decode steps, `newTokens` tokens in all, under one placement (the baseline). */
export interface StreamStep extends Step {
  op: 'stream';
  baseline: Placement;
  load: LoadPlan;
  prompt: PromptPlan;
  newTokens: number;
}

export type StreamingStep = ProbeStep | ReferenceStep | StreamStep;

const PARAMETERS = ['budget_bytes', 'ring_bytes', 'prefetch', 'prompt_tokens', 'new_tokens'];

/** A prefill, then greedy decode steps until `newTokens` tokens are out: the first logits and every pass's stats. */
async function prefillAndDecode(session: Session, ids: number[], newTokens: number, checkpoint: () => void): Promise<{ first: Float32Array; steps: StepStats[] }> {
  let logits = (await session.forward(ids)) as Logits;
  const first = logits.data.slice();
  const steps = [session.lastStep()];
  for (let t = 1; t < newTokens; t++) {
    checkpoint();
    logits = await session.decode(logits.argmax());
    steps.push(session.lastStep());
  }
  return { first, steps };
}

const sum = (xs: readonly StepStats[], f: (x: StepStats) => number): number => xs.reduce((a, x) => a + f(x), 0);

// --- figures -------------------------------------------------------------------------------------------

/** streaming: effective bandwidth (bytes streamed / time) per placement, with the machine's pinned and pageable H2D bandwidth. */
export function bandwidthFigure(r: Results): Figure {
  const fields = swept(r.rows, PARAMETERS);
  const { points: ps, missing } = points(groupBy(r.rows, (row) => barLabel(row, String(row['placement']), fields)), 'effective_bandwidth_gbps');
  const pinned = r.pinned_h2d_gbps ?? null;
  const refs = [];
  if (pinned !== null) refs.push(hline(pinned, `pinned H2D ${numberFormat(pinned)(pinned)} GB/s`, '#444'));
  if (typeof r.pageable_h2d_gbps === 'number') refs.push(hline(r.pageable_h2d_gbps, `pageable H2D ${numberFormat(r.pageable_h2d_gbps)(r.pageable_h2d_gbps)} GB/s`, '#999'));
  const text = numberFormat(Math.max(0, ...ps.map((p) => p.median)));
  const placed = barLayout(barTops(ps, (p) => [`${text(p.median)} GB/s`, ...(pinned ? [`(${fixed((100 * p.median) / pinned, 0)}% of pinned)`] : [])]), refs);
  return {
    data: [bars('effective bandwidth', ps)],
    layout: layout('Effective bandwidth per placement', r, {
      shapes: placed.shapes,
      annotations: placed.annotations,
      xaxis: { title: { text: columnTitle('placement') } },
      yaxis: { title: { text: columnTitle('effective_bandwidth_gbps') }, range: placed.range },
      showlegend: false,
    }, [runsNote(ps), missingNote(missing), placed.note]),
  };
}

/** The per-layer timeline of a streaming result, or an error naming what is missing. */
export function timeline(r: Results, placement: string, pass: string): TimelineEntry[] {
  const t = r.timelines?.[placement]?.[pass];
  if (!Array.isArray(t)) throw new VramlabError('VL_ERR_FORMAT', `the ${r.benchmark} result has no ${pass} timeline for placement "${placement}"`);
  return t;
}

/** Milliseconds during which a layer computes while a copy is in flight (the overlap prefetch buys). */
export function overlapMs(t: readonly TimelineEntry[]): number {
  let sum = 0;
  for (const c of t)
    for (const k of t)
      if (k.copyStartMs !== null && k.copyEndMs !== null)
        sum += Math.max(0, Math.min(c.computeEndMs, k.copyEndMs) - Math.max(c.computeStartMs, k.copyStartMs));
  return sum;
}

/** streaming: when each layer's weights were copied (copy stream) and computed (compute stream) in one pass (in ms, or s from a second up). */
export function timelineFigure(r: Results, placement: string, pass = 'prefill'): Figure {
  const t = timeline(r, placement, pass);
  const copies = t.filter((e) => e.copyStartMs !== null && e.copyEndMs !== null);
  const computeMs = t.reduce((a, e) => a + e.computeEndMs - e.computeStartMs, 0);
  const { unit, scale } = timeUnit(Math.max(0, ...t.map((e) => Math.max(e.computeEndMs, e.copyEndMs ?? 0))));
  const lane = (name: string, entries: TimelineEntry[], start: (e: TimelineEntry) => number, end: (e: TimelineEntry) => number, laneColor: string): Data => ({
    type: 'bar',
    orientation: 'h',
    name,
    y: entries.map(() => name),
    base: entries.map((e) => start(e) / scale),
    x: entries.map((e) => (end(e) - start(e)) / scale),
    text: entries.map((e) => `L${e.layer}`),
    // Layer labels read level, never turned on their side in a narrow bar (plotly's default), and
    // a label that would have to shrink under uniformtext.minsize is left out (the hover names it).
    textposition: 'inside',
    textangle: 0,
    customdata: entries.map((e) => e.layer),
    hovertemplate: `${name} layer %{customdata}: %{base:.3~f} ${unit} + %{x:.3~f} ${unit}<extra></extra>`,
    marker: { color: laneColor, line: { color: '#fff', width: 1 } },
  });
  return {
    data: [
      lane('copy (H2D)', copies, (e) => e.copyStartMs as number, (e) => e.copyEndMs as number, '#ff7f0e'),
      lane('compute', t, (e) => e.computeStartMs, (e) => e.computeEndMs, '#1f77b4'),
    ],
    layout: layout(`Per-layer copy and compute, ${placement}, ${pass} pass`, r, {
      barmode: 'overlay',
      uniformtext: { mode: 'hide', minsize: 9 },
      height: 300,
      xaxis: { title: { text: `${unit} from the start of the pass` } },
      yaxis: { categoryorder: 'array', categoryarray: ['compute', 'copy (H2D)'] },
    }, [`${copies.length} of ${t.length} layers copied; compute overlapped with copies ${fixed(overlapMs(t), 2)} of ${fixed(computeMs, 2)} ms`]),
  };
}

/**
 * streaming: peak VRAM per placement against the budget (and the resident run without a budget), in
 * the size unit of the largest of them (GB on a GPU, MB for the CPU runs of tiny models).
 */
export function vramFigure(r: Results): Figure {
  const fields = swept(r.rows, PARAMETERS);
  const { points: gb, missing } = points(groupBy(r.rows, (row) => barLabel(row, String(row['placement']), fields)), 'peak_vram_gb');
  const budgetBytes = r.budget_bytes ?? null;
  const resident = typeof r.resident_reference?.peak_vram_gb === 'number' ? r.resident_reference.peak_vram_gb * 1e9 : null;
  const { unit, scale } = sizeUnit(Math.max(0, budgetBytes ?? 0, resident ?? 0, ...gb.map((p) => p.max * 1e9)));
  const ps = inUnit(gb, scale / 1e9);
  const text = numberFormat(Math.max(0, budgetBytes ?? 0, resident ?? 0, ...gb.map((p) => p.median * 1e9)) / scale);
  const refs = [];
  if (budgetBytes !== null) refs.push(hline(budgetBytes / scale, `budget ${text(budgetBytes / scale)} ${unit}`, '#d62728'));
  if (resident !== null) refs.push(hline(resident / scale, `resident, no budget: ${text(resident / scale)} ${unit}`, '#444'));
  const placed = barLayout(barTops(ps, (p) => `${text(p.median)} ${unit}`), refs);
  return {
    data: [{ ...bars('peak VRAM', ps), marker: { color: '#2ca02c' } }],
    layout: layout('Peak VRAM per placement', r, {
      shapes: placed.shapes,
      annotations: placed.annotations,
      xaxis: { title: { text: columnTitle('placement') } },
      yaxis: { title: { text: columnTitle('peak_vram_gb', unit) }, range: placed.range },
      showlegend: false,
    }, [runsNote(ps), missingNote(missing), placed.note]),
  };
}

/** The placements of a streaming result that have a prefill timeline with copies, in row order. */
function copyingPlacements(r: Results): string[] {
  const placements = [...new Set(r.rows.map((row) => String(row['placement'])))];
  return placements.filter((p) => (r.timelines?.[p]?.['prefill'] ?? []).some((e) => e.copyStartMs !== null));
}


export const streaming: Measure<StreamingStep> = {
  name: 'streaming',
  doc: 'a prefill and greedy decode steps (`new_tokens` tokens in all) under each placement; the logits are checked against a resident run without a budget; the pinned and pageable copy bandwidth is probed in the same run (`probe` bytes)',
  settings: {
    ...MODEL_SETTINGS,
    baselines: BASELINES_SETTING,
    new_tokens: NEW_TOKENS_SETTING,
    probe: { kind: { type: 'size' }, doc: 'bytes of the pinned and pageable copy probe run beside the streaming (default 256 MiB)', sweep: false, default: 256 * 2 ** 20 },
  },
  baselines: ['resident', 'stream', 'stream-sync', 'accelerate', 'auto'],
  metrics: ['effective_bandwidth_gbps', 'decode_bandwidth_gbps', 'latency_ms', 'prefill_ms', 'decode_ms_per_token', 'bytes_streamed', 'resident_layers', 'peak_vram_gb', 'logit_rel_err', 'logit_match'],
  onRequest: ['current_vram_gb', 'device_used_gb', 'load_s'],
  check: 'logits of the prefill against a resident run without a budget (relative L2 error)',
  rowFields: { placement: 'string' },
  parameters: PARAMETERS,
  evidence: { pinned_h2d_gbps: 'number', pageable_h2d_gbps: 'number', resident_reference: 'object', timelines: 'object' },

  compile(c) {
    const steps: StreamingStep[] = [];
    if (c.first('probe')) steps.push({ op: 'probe', bytes: c.number('probe'), point: {} });
    const prompt = c.prompt();
    const newTokens = c.number('new_tokens');
    const tokens = promptTokens(prompt) + newTokens;
    if (c.first(JSON.stringify(['reference', prompt]))) steps.push({ op: 'reference', load: { ...c.load('resident', tokens, 1), budget: null }, prompt, newTokens, point: c.point });
    for (const b of c.baselines) steps.push({ op: 'stream', baseline: b as Placement, load: c.load(b as Placement, tokens, 1), prompt, newTokens, point: c.point });
    return steps;
  },

  once(s) {
    return s.op !== 'stream';
  },

  params(s, info): ResultRow {
    // A probe or reference run only has a row when it failed: its op names it.
    if (s.op !== 'stream') return { placement: s.op };
    return { placement: s.baseline, budget_bytes: s.load.budget, ring_bytes: info?.ringBytes ?? s.load.ring, prefetch: info && s.baseline !== 'resident' ? info.prefetch : s.load.prefetch, prompt_tokens: promptTokens(s.prompt), new_tokens: s.newTokens };
  },

  async *run(s, c) {
    if (s.op === 'probe') {
      const rt = await c.device();
      c.result.pinned_h2d_gbps = await rt.copyBandwidth({ bytes: s.bytes, pinned: true, reps: 5 });
      c.result.pageable_h2d_gbps = await rt.copyBandwidth({ bytes: s.bytes, pinned: false, reps: 3 });
      return null;
    }
    const { rt, model, loadMs } = await c.model(s.load, { reference: s.op === 'reference' });
    const session = model.createSession();
    let run: { first: Float32Array; steps: StepStats[] };
    let mem: MemoryInfo;
    try {
      run = await prefillAndDecode(session, promptIds(s.prompt, model.shape.vocabSize), s.newTokens, () => c.checkpoint());
      mem = rt.memory();
    } finally {
      session.dispose();
    }
    const wall = sum(run.steps, (x) => x.wallMs);
    if (s.op === 'reference') {
      c.memo.set(JSON.stringify(['reference', s.prompt]), run.first);
      c.result.resident_reference = { latency_ms: wall, peak_vram_gb: mem.peak / 1e9 };
      c.unload(); // the placements run under their budget, on a runtime of their own
      return null;
    }
    const bytes = sum(run.steps, (x) => x.h2dBytes);
    const decode = run.steps.slice(1);
    const ref = c.memo.get(JSON.stringify(['reference', s.prompt]));
    const err = ref instanceof Float32Array ? relativeError(run.first, ref) : null;
    c.compared(err);
    c.result.timelines = { ...c.result.timelines, [s.baseline]: { prefill: run.steps[0]?.timeline ?? [], decode_last: run.steps[run.steps.length - 1]?.timeline ?? [] } };
    return {
      effective_bandwidth_gbps: wall > 0 ? bytes / wall / 1e6 : null,
      decode_bandwidth_gbps: decode.length > 0 && sum(decode, (x) => x.wallMs) > 0 ? sum(decode, (x) => x.h2dBytes) / sum(decode, (x) => x.wallMs) / 1e6 : null,
      latency_ms: wall,
      prefill_ms: run.steps[0]?.wallMs ?? null,
      decode_ms_per_token: mean(decode.map((x) => x.wallMs)),
      bytes_streamed: bytes,
      resident_layers: model.info().residentLayers,
      peak_vram_gb: mem.peak / 1e9,
      logit_rel_err: err,
      logit_match: err === null ? null : err <= c.plan.tolerance,
      current_vram_gb: mem.current / 1e9,
      device_used_gb: (mem.deviceTotal - mem.deviceFree) / 1e9,
      load_s: loadMs === null ? null : loadMs / 1e3,
    };
  },

  figures(r, note) {
    return [
      ...(measured(r, 'effective_bandwidth_gbps', 'Effective bandwidth per placement', note, 'no placement copied weights') ? [bandwidthFigure(r)] : []),
      ...copyingPlacements(r).map((p) => timelineFigure(r, p)),
      ...(measured(r, 'peak_vram_gb', 'Peak VRAM per placement', note) ? [vramFigure(r)] : []),
    ];
  },
};
