// batch-decode.ts: the batched decode step against its HBM floor (issue 16). `batch` sessions of one
// model, each prefilled with its own `prompt`, then decode `steps` greedy tokens together through the
// scheduler: every decode step carries one token of each session (one read of the weights, attention
// through each session's block table). The time of those steps beside the floor of that batch: the
// weights plus the batch's KV read once, at the device-to-device bandwidth probed in the same run.
import { sessionPrompt } from '../inputs.js';
import type { Measure } from '../measure.js';
import type { Data } from 'plotly.js-dist-min';
import { columnTitle } from '../columns.js';
import { barLayout, bars, barTops, type Figure, fixed, groupBy, layout, lines, measured, points, runsNote } from '../figures.js';
import { type LoadPlan, type PromptPlan, promptTokens, type Step } from '../plan.js';
import type { ResultRow, Results } from '../results.js';
import { MODEL_SETTINGS } from '../settings.js';
import { median } from '../stats.js';
import type { StepReport } from '../../runtime/scheduler.js';

export type BatchDecodeStep =
  | { op: 'probe'; bytes: number; point: Record<string, never> }
  | { op: 'batch'; load: LoadPlan; prompt: PromptPlan; batch: number; steps: number; point: Step['point'] };

const PARAMETERS = ['prompt_tokens', 'steps', 'batch'];

/** Step time against batch size, with each batch's HBM floor. */
export function batchFigure(r: Results): Figure {
  const step = lines(r.rows, () => 'decode step', 'batch', 'step_ms', 'ms');
  const floor = lines(r.rows, () => 'HBM floor (weights + the batch\'s KV, read once)', 'batch', 'floor_ms', 'ms');
  const data = [...step.data, ...floor.data.map((d) => ({ ...d, line: { color: '#444', dash: 'dash' as const }, marker: { size: 6, color: '#444' } }) as Data)];
  const xs = [...new Set(r.rows.map((row) => Number(row['batch'])))].sort((a, b) => a - b);
  return {
    data,
    layout: layout('Batched decode step against batch size, beside its HBM floor', r, {
      xaxis: { title: { text: columnTitle('batch') }, type: 'log', tickvals: xs, ticktext: xs.map(String) },
      yaxis: { title: { text: `${columnTitle('step_ms')}, ${columnTitle('floor_ms')}` }, rangemode: 'tozero' },
    }),
  };
}

/** How far above its floor each batch runs. */
export function floorRatioFigure(r: Results): Figure {
  // One bar per batch size at the median of its runs (a category axis of the sizes, in order).
  const rows = [...r.rows].sort((a, b) => Number(a['batch']) - Number(b['batch']));
  const ps = points(groupBy(rows, (row) => String(row['batch'])), 'x_floor').points;
  const placed = barLayout(barTops(ps, (p) => `${fixed(p.median, 2)}x`));
  return {
    data: [bars('step / floor', ps)],
    layout: layout('Batched decode step over its HBM floor', r, {
      annotations: placed.annotations,
      xaxis: { title: { text: columnTitle('batch') }, type: 'category' },
      yaxis: { title: { text: columnTitle('x_floor') }, range: placed.range },
      showlegend: false,
    }, [runsNote(ps)]),
  };
}

export const batchDecode: Measure<BatchDecodeStep> = {
  name: 'batch-decode',
  doc: '`batch` sessions prefill their prompts, then decode `steps` tokens together, one token of each per batched step; the step time beside the HBM floor of the batch (weights plus its KV read once at the device-to-device bandwidth probed in the same run)',
  settings: {
    ...MODEL_SETTINGS,
    batch: { kind: { type: 'integer', min: 1, max: 4096 }, doc: 'sessions decoding together in each step (default 8)', sweep: true, default: 8 },
    steps: { kind: { type: 'integer', min: 2, max: 1 << 16 }, doc: 'decode steps timed after the prefills (default 16)', sweep: false, default: 16 },
    probe: { kind: { type: 'size' }, doc: 'bytes of the device-to-device copy probe (default 256 MiB)', sweep: false, default: 256 * 2 ** 20 },
  },
  baselines: [],
  metrics: ['step_ms', 'device_step_ms', 'floor_ms', 'x_floor', 'tokens_per_s', 'context_tokens', 'decode_steps'],
  check: null,
  rowFields: {},
  parameters: PARAMETERS,
  evidence: { d2d_gbps: 'number' },

  compile(c) {
    const steps: BatchDecodeStep[] = [];
    if (c.first('probe')) steps.push({ op: 'probe', bytes: c.number('probe'), point: {} });
    const prompt = c.prompt();
    const batch = c.number('batch');
    const n = c.number('steps');
    steps.push({ op: 'batch', load: c.load('resident', promptTokens(prompt) + n + 1, batch), prompt, batch, steps: n, point: c.point });
    return steps;
  },

  once(s) {
    return s.op === 'probe';
  },

  params(s): ResultRow {
    if (s.op === 'probe') return { batch: null };
    return { prompt_tokens: promptTokens(s.prompt), steps: s.steps, batch: s.batch };
  },

  async *run(s, c) {
    if (s.op === 'probe') {
      c.result.d2d_gbps = await (await c.device()).copyBandwidth({ bytes: s.bytes, direction: 'd2d' });
      return null;
    }
    const { model } = await c.model(s.load);
    const info = model.info();
    const sched = model.scheduler();
    await sched.prepare(s.batch); // every decode step replays its graph, from the first
    const sessions = Array.from({ length: s.batch }, () => model.createSession());
    const decodeSteps: StepReport[] = [];
    try {
      // The prefills first (each session's first token), then every session decodes in lockstep.
      const vocab = model.shape.vocabSize;
      const first = await Promise.all(sessions.map((x, k) => sched.submit(x, sessionPrompt(s.prompt, k, vocab), 1)));
      c.checkpoint();
      sched.onStep = (r) => {
        if (r.prefillTokens === s.batch && r.decodeTokens === 0) return; // the step that runs each first token
        if (r.decodeTokens === s.batch) decodeSteps.push(r);
      };
      await Promise.all(sessions.map((x, k) => sched.submit(x, first[k]?.tokens ?? [], s.steps)));
    } finally {
      sched.onStep = null;
      for (const x of sessions) x.dispose();
    }
    c.checkpoint();
    const wall = median(decodeSteps.map((r) => r.wallMs));
    const device = decodeSteps.map((r) => r.deviceMs).filter((d): d is number => d !== null);
    // The steps run contexts from the prompt to the prompt + steps: on average the middle one.
    const context = promptTokens(s.prompt) + s.steps / 2;
    const d2d = typeof c.result.d2d_gbps === 'number' ? c.result.d2d_gbps : null;
    const bytes = info.weightBytes + s.batch * context * (info.kvBlockBytes / info.kvBlockTokens);
    const floor = d2d ? (bytes / (d2d * 1e9)) * 1e3 : null;
    return {
      step_ms: Number.isFinite(wall) ? wall : null,
      device_step_ms: device.length > 0 ? median(device) : null,
      floor_ms: floor,
      x_floor: floor && Number.isFinite(wall) ? wall / floor : null,
      tokens_per_s: Number.isFinite(wall) && wall > 0 ? (s.batch / wall) * 1e3 : null,
      context_tokens: context,
      decode_steps: decodeSteps.length,
    };
  },

  figures(r, note) {
    if (!measured(r, 'step_ms', 'Batched decode step against batch size', note)) return [];
    return [batchFigure(r), ...(measured(r, 'x_floor', 'Batched decode step over its HBM floor', note, 'no device-to-device bandwidth was probed') ? [floorRatioFigure(r)] : [])];
  },
};
