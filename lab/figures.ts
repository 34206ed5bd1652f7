// figures.ts: plotly.js figures (plain data: traces and a layout) from results, the ones the seeds ask
// for, each titled with its evidence (device, commit, model, budget, the run's correctness check);
// and the HTML that draws them on a page that has plotly.js (plotlyScript embeds it, offline).
//
//   copy_bandwidth  host-to-device bandwidth against copy size, pinned and pageable
//   streaming       effective bandwidth per placement (bars, pinned H2D line); per-layer copy and
//                   compute timeline of each placement that copies (when the result has timelines);
//                   peak VRAM per placement (budget line)
//   decode          per-token latency per system or baseline (HBM floor line when measured); bytes
//                   moved host-to-device per token
//   breakpoints     resume latency against breakpoint depth, one line per baseline (the crossover)
//   steering        output change against the steering scale (or the steered layer)
//
// Results come from bench/*.ts (one row per system) or from an experiment run (one row per measured
// run, parameters swept): rows with the same parameters are one point, at their median, with an error
// bar from the smallest to the largest run; runs that failed (status out_of_memory, ...) are named in
// a note instead.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Annotation, BarData, Data, ErrorBar, Layout, Shape } from 'plotly.js-dist-min';
import { VramlabError } from '../runtime/errors.js';
import { median } from './frames.js';
import type { Results, Row, TimelineEntry } from './results.js';

export interface Figure {
  data: Data[];
  layout: Layout;
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];
const color = (i: number): string => COLORS[i % COLORS.length] as string;

function fixed(x: number, digits = 1): string {
  return x.toFixed(digits);
}

/** Bytes in GB (1e9), or MB below 1 GB: "12.0 GB", "6.0 MB". */
function sizeLabel(bytes: number): string {
  return bytes >= 1e9 ? `${fixed(bytes / 1e9)} GB` : `${fixed(bytes / 1e6)} MB`;
}

// --- rows: grouping, sweeps, medians -------------------------------------------------------------

/** The parameters (columns naming what was run, not what was measured) that can be swept, by benchmark. */
const PARAMETERS: Record<string, string[]> = {
  copy_bandwidth: ['copies'],
  streaming: ['budget_bytes', 'ring_bytes', 'prefetch', 'prompt_tokens', 'new_tokens'],
  decode: ['placement', 'budget_bytes', 'kv_pool_tokens', 'prompt_tokens', 'new_tokens', 'sessions'],
  breakpoints: ['placement', 'prompt_tokens', 'edit'],
  steering: ['placement', 'prompt_tokens', 'new_tokens', 'edit'],
};

/** The parameters among `fields` with more than one value (null aside) between rows: what a sweep varied. */
function swept(rows: readonly Row[], fields: readonly string[]): string[] {
  return fields.filter((f) => new Set(rows.map((r) => r[f]).filter((v) => v !== null && v !== undefined).map((v) => JSON.stringify(v))).size > 1);
}

function paramText(field: string, v: unknown): string {
  if (typeof v === 'number' && field.endsWith('_bytes')) return `${field.slice(0, -6)}=${sizeLabel(v)}`;
  return `${field}=${String(v)}`;
}

/** A row's name in a figure: `base` and its values of the swept parameters ("stream ring=1.0 GB"). */
function rowLabel(row: Row, base: string, fields: readonly string[], separator = ' '): string {
  return [base, ...fields.filter((f) => row[f] !== null && row[f] !== undefined).map((f) => paramText(f, row[f]))].join(separator);
}

/** The label of a bar: the parameters on lines of their own under the name. */
function barLabel(row: Row, base: string, fields: readonly string[]): string {
  return rowLabel(row, base, fields, '<br>');
}

/** Rows grouped by a key, in the order the keys first appear. */
function groupBy(rows: readonly Row[], key: (r: Row) => string): Map<string, Row[]> {
  const groups = new Map<string, Row[]>();
  for (const r of rows) {
    const k = key(r);
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return groups;
}

interface Point {
  name: string;
  median: number;
  min: number;
  max: number;
  runs: number;
}

/** The median and range of `metric` over a group's rows; null when no run measured it. */
function point(name: string, rows: readonly Row[], metric: string): Point | null {
  const xs = rows.map((r) => r[metric]).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  if (xs.length === 0) return null;
  return { name, median: median(xs), min: Math.min(...xs), max: Math.max(...xs), runs: xs.length };
}

/** Points per group; the groups without a measurement are returned as `missing`. */
function points(groups: Map<string, Row[]>, metric: string): { points: Point[]; missing: string[] } {
  const out: Point[] = [];
  const missing: string[] = [];
  for (const [name, rows] of groups) {
    const p = point(name, rows, metric);
    if (p) out.push(p);
    else missing.push(`${name} (${[...new Set(rows.map((r) => String(r['status'] ?? 'not measured')))].join(', ')})`);
  }
  return { points: out, missing };
}

/** Error bars from each point's smallest to largest run, when any point has more than one run. */
function spread(ps: readonly Point[]): { error_y?: Partial<ErrorBar> } {
  if (!ps.some((p) => p.runs > 1)) return {};
  return { error_y: { type: 'data', symmetric: false, array: ps.map((p) => p.max - p.median), arrayminus: ps.map((p) => p.median - p.min), visible: true } };
}

function runsNote(ps: readonly Point[]): string {
  const most = Math.max(0, ...ps.map((p) => p.runs));
  return most > 1 ? `(median of ${most} runs, bars from min to max)` : '';
}

// --- layout: evidence, reference lines, notes --------------------------------------------------------

/** The run's evidence in one line: device, driver, commit, model and its size, budget, date, correctness check. */
export function evidence(r: Results): string {
  const parts = [r.device];
  if (r.driver) parts.push(`driver ${r.driver}`);
  parts.push(`commit ${r.commit.slice(0, 7)}`);
  if (r.model) parts.push(typeof r.weight_bytes === 'number' ? `${r.model} (${sizeLabel(r.weight_bytes)} of weights)` : r.model);
  if (typeof r.budget_bytes === 'number') parts.push(`budget ${sizeLabel(r.budget_bytes)}`);
  if (r.date) parts.push(r.date.slice(0, 10));
  const check = r.check;
  const errs = r.rows.map((row) => row['logit_rel_err']).filter((e): e is number => typeof e === 'number');
  if (typeof check?.worst === 'number')
    parts.push(`check ${check.pass ? 'passed' : 'FAILED'}: worst error ${check.worst.toExponential(1)} (tolerance ${check.tolerance.toExponential(0)})`);
  else if (errs.length > 0) {
    const worst = Math.max(...errs);
    parts.push(worst === 0 ? 'logits identical to the resident run' : `logit rel. error vs resident ≤ ${worst.toExponential(1)}`);
  }
  if (r.stopped) parts.push(`stopped early (${r.stopped})`);
  return parts.join(' · ');
}

function note(text: string): Annotation {
  return { xref: 'paper', x: 0, xanchor: 'left', yref: 'paper', y: 1.02, yanchor: 'bottom', showarrow: false, font: { size: 11 }, text };
}

function layout(title: string, r: Results, extra: Layout, notes: string[] = []): Layout {
  return {
    title: { text: `${title}<br><span style="font-size:11px;color:#666">${evidence(r)}</span>`, font: { size: 15 } },
    height: 420,
    margin: { t: 90, l: 70, r: 30, b: 60 },
    showlegend: true,
    legend: { orientation: 'h', y: -0.18 },
    ...extra,
    annotations: [...(extra.annotations ?? []), ...(notes.filter(Boolean).length > 0 ? [note(notes.filter(Boolean).join('; '))] : [])],
  };
}

/** A horizontal reference line across the plot at y, labelled at its right end. */
function hline(y: number, label: string, lineColor: string): { shape: Shape; annotation: Annotation } {
  return {
    shape: { type: 'line', xref: 'paper', x0: 0, x1: 1, yref: 'y', y0: y, y1: y, line: { color: lineColor, width: 2, dash: 'dash' } },
    annotation: { xref: 'paper', x: 1, xanchor: 'right', yref: 'y', y, yanchor: 'bottom', text: label, showarrow: false, font: { color: lineColor, size: 11 } },
  };
}

function withLines(lines: { shape: Shape; annotation: Annotation }[]): Layout {
  return { shapes: lines.map((l) => l.shape), annotations: lines.map((l) => l.annotation) };
}

const missingNote = (missing: string[]): string => (missing.length > 0 ? `not measured: ${missing.join(', ')}` : '');

/** Bars of points (median, range), coloured in turn, labelled by `text`. */
function bars(name: string, ps: Point[], text: (p: Point) => string): Partial<BarData> {
  return {
    type: 'bar',
    name,
    x: ps.map((p) => p.name),
    y: ps.map((p) => p.median),
    text: ps.map(text),
    textposition: 'auto',
    marker: { color: ps.map((_, i) => color(i)) },
    ...spread(ps),
  };
}

/** One line per group of rows (`traceOf`), x from `x`, y the median of `metric` over equal x. */
function lines(rows: readonly Row[], traceOf: (r: Row) => string, x: string, metric: string, hover: string): { data: Data[]; ps: Point[]; missing: string[] } {
  const data: Data[] = [];
  const all: Point[] = [];
  const missing: string[] = [];
  [...groupBy(rows, traceOf)].forEach(([name, group], i) => {
    const byX = groupBy(group, (r) => String(r[x]));
    const got = points(byX, metric);
    const ps = got.points.sort((a, b) => Number(a.name) - Number(b.name));
    missing.push(...got.missing.map((m) => `${name} ${x}=${m}`));
    all.push(...ps);
    data.push({
      type: 'scatter',
      mode: 'lines+markers',
      name,
      x: ps.map((p) => Number(p.name)),
      y: ps.map((p) => p.median),
      marker: { size: 9, color: color(i) },
      line: { color: color(i) },
      hovertemplate: `${name}, ${x} %{x}: %{y:.3f} ${hover}<extra></extra>`,
      ...spread(ps),
    });
  });
  return { data, ps: all, missing };
}

// --- the figures -------------------------------------------------------------------------------------

/** copy_bandwidth: host-to-device bandwidth against copy size, one line per baseline (pinned, pageable). */
export function copyBandwidthFigure(r: Results): Figure {
  const rows = r.rows.map((row) => ({ ...row, size_mb: typeof row['bytes'] === 'number' ? row['bytes'] / 1e6 : null }));
  const fields = swept(r.rows, PARAMETERS['copy_bandwidth'] as string[]);
  const { data, ps, missing } = lines(rows, (row) => rowLabel(row, String(row['baseline']), fields), 'size_mb', 'bandwidth_gbps', 'GB/s');
  return {
    data,
    layout: layout('Host-to-device copy bandwidth', r, {
      xaxis: { title: { text: 'copy size (MB)' }, type: 'log' },
      yaxis: { title: { text: 'GB/s' }, rangemode: 'tozero' },
    }, [runsNote(ps), missingNote(missing)]),
  };
}

/** streaming: effective bandwidth (bytes streamed / time) per placement, with the machine's pinned and pageable H2D bandwidth. */
export function bandwidthFigure(r: Results): Figure {
  const fields = swept(r.rows, PARAMETERS['streaming'] as string[]);
  const { points: ps, missing } = points(groupBy(r.rows, (row) => barLabel(row, String(row['placement']), fields)), 'effective_bandwidth_gbps');
  const pinned = r.pinned_h2d_gbps ?? null;
  const refs = [];
  if (pinned !== null) refs.push(hline(pinned, `pinned H2D ${fixed(pinned)} GB/s`, '#444'));
  if (typeof r.pageable_h2d_gbps === 'number') refs.push(hline(r.pageable_h2d_gbps, `pageable H2D ${fixed(r.pageable_h2d_gbps)} GB/s`, '#999'));
  return {
    data: [bars('effective bandwidth', ps, (p) => `${fixed(p.median)} GB/s${pinned ? ` (${fixed((100 * p.median) / pinned, 0)}% of pinned)` : ''}`)],
    layout: layout('Effective bandwidth per placement', r, {
      ...withLines(refs),
      xaxis: { title: { text: 'placement' } },
      yaxis: { title: { text: 'GB/s' }, range: [0, Math.max(...refs.map((l) => l.shape.y0 as number), ...ps.map((p) => p.max)) * 1.2] },
      showlegend: false,
    }, [runsNote(ps), missingNote(missing)]),
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

/** streaming: when each layer's weights were copied (copy stream) and computed (compute stream) in one pass. */
export function timelineFigure(r: Results, placement: string, pass = 'prefill'): Figure {
  const t = timeline(r, placement, pass);
  const copies = t.filter((e) => e.copyStartMs !== null && e.copyEndMs !== null);
  const computeMs = t.reduce((a, e) => a + e.computeEndMs - e.computeStartMs, 0);
  const lane = (name: string, entries: TimelineEntry[], start: (e: TimelineEntry) => number, end: (e: TimelineEntry) => number, laneColor: string): Data => ({
    type: 'bar',
    orientation: 'h',
    name,
    y: entries.map(() => name),
    base: entries.map(start),
    x: entries.map((e) => end(e) - start(e)),
    text: entries.map((e) => `L${e.layer}`),
    textposition: 'inside',
    customdata: entries.map((e) => e.layer),
    hovertemplate: `${name} layer %{customdata}: %{base:.2f} ms + %{x:.2f} ms<extra></extra>`,
    marker: { color: laneColor, line: { color: '#fff', width: 1 } },
  });
  return {
    data: [
      lane('copy (H2D)', copies, (e) => e.copyStartMs as number, (e) => e.copyEndMs as number, '#ff7f0e'),
      lane('compute', t, (e) => e.computeStartMs, (e) => e.computeEndMs, '#1f77b4'),
    ],
    layout: layout(`Per-layer copy and compute, ${placement}, ${pass} pass`, r, {
      barmode: 'overlay',
      height: 300,
      xaxis: { title: { text: 'ms from the start of the pass' } },
      yaxis: { categoryorder: 'array', categoryarray: ['compute', 'copy (H2D)'] },
    }, [`${copies.length} of ${t.length} layers copied; compute overlapped with copies ${fixed(overlapMs(t), 2)} of ${fixed(computeMs, 2)} ms`]),
  };
}

/**
 * streaming: peak VRAM per placement against the budget (and the resident run without a budget), in
 * GB, or in MB when the budget is under 1 GB (the CPU runs of tiny models).
 */
export function vramFigure(r: Results): Figure {
  const fields = swept(r.rows, PARAMETERS['streaming'] as string[]);
  const { points: gb, missing } = points(groupBy(r.rows, (row) => barLabel(row, String(row['placement']), fields)), 'peak_vram_gb');
  const budgetBytes = r.budget_bytes ?? null;
  const [unit, scale] = (budgetBytes ?? Math.max(0, ...gb.map((p) => p.max * 1e9))) >= 1e9 ? ['GB', 1] : ['MB', 1e3];
  const ps = gb.map((p) => ({ ...p, median: p.median * scale, min: p.min * scale, max: p.max * scale }));
  const refs = [];
  if (budgetBytes !== null) refs.push(hline((budgetBytes / 1e9) * scale, `budget ${fixed((budgetBytes / 1e9) * scale)} ${unit}`, '#d62728'));
  const ref = r.resident_reference;
  if (typeof ref?.peak_vram_gb === 'number') refs.push(hline(ref.peak_vram_gb * scale, `resident, no budget: ${fixed(ref.peak_vram_gb * scale)} ${unit}`, '#444'));
  return {
    data: [{ ...bars('peak VRAM', ps, (p) => `${fixed(p.median, 2)} ${unit}`), marker: { color: '#2ca02c' } }],
    layout: layout('Peak VRAM per placement', r, {
      ...withLines(refs),
      xaxis: { title: { text: 'placement' } },
      yaxis: { title: { text: unit }, range: [0, Math.max(...ps.map((p) => p.max), ...refs.map((l) => l.shape.y0 as number)) * 1.15] },
      showlegend: false,
    }, [runsNote(ps), missingNote(missing)]),
  };
}

/**
 * breakpoints: resume latency against the breakpoint's layer, one line per baseline; on a log axis
 * when the baselines are orders of magnitude apart.
 */
export function resumeFigure(r: Results): Figure {
  const fields = swept(r.rows, PARAMETERS['breakpoints'] as string[]);
  const { data, ps, missing } = lines(r.rows, (row) => rowLabel(row, String(row['baseline']), fields), 'layer', 'resume_ms', 'ms');
  const pause = r.pause_overhead_ms;
  const gap = r.pause_gap_ms;
  const positive = ps.map((p) => p.median).filter((m) => m > 0);
  const log = positive.length === ps.length && Math.max(...positive) / Math.min(...positive) > 100;
  return {
    data,
    layout: layout('Resume latency against breakpoint depth', r, {
      xaxis: { title: { text: 'breakpoint after layer' } },
      yaxis: log ? { title: { text: 'resume latency (ms, log scale)' }, type: 'log' } : { title: { text: 'resume latency (ms)' }, rangemode: 'tozero' },
    }, [typeof pause === 'number' ? `pause overhead ${pause.toFixed(3)} ms` : '', typeof gap === 'number' ? `device gap per pause ${gap.toFixed(3)} ms` : '', runsNote(ps), missingNote(missing)]),
  };
}

/** The name of a decode row's system: `system` (bench) or `baseline` (experiment runs). */
function decodeSystem(row: Row): string {
  return String(row['system'] ?? row['baseline']);
}

/**
 * decode: per-token latency per system, with the HBM floor (weight bytes / device-to-device bandwidth)
 * when measured; against the number of sessions, one line per system, when sessions were swept.
 */
export function decodeFigure(r: Results): Figure {
  const fields = swept(r.rows, PARAMETERS['decode'] as string[]);
  if (fields.includes('sessions')) {
    // The KV pool grows with the sessions: it is not a parameter of its own there.
    const others = fields.filter((f) => f !== 'sessions' && f !== 'kv_pool_tokens');
    const { data, ps, missing } = lines(r.rows, (row) => rowLabel(row, decodeSystem(row), others), 'sessions', 'per_token_ms', 'ms');
    return {
      data,
      layout: layout('Decode latency per token against sessions sharing the weights', r, {
        xaxis: { title: { text: 'sessions' } },
        yaxis: { title: { text: 'ms per token' }, rangemode: 'tozero' },
      }, [runsNote(ps), missingNote(missing)]),
    };
  }
  const { points: ps, missing } = points(groupBy(r.rows, (row) => barLabel(row, decodeSystem(row), fields)), 'per_token_ms');
  const floor = r.hbm_floor_ms ?? null;
  return {
    data: [bars('per-token latency', ps, (p) => (floor ? `${fixed(p.median, 2)} ms (${fixed(p.median / floor, 2)}x floor)` : `${fixed(p.median, 2)} ms`))],
    layout: layout('Decode latency per token', r, {
      ...(floor ? withLines([hline(floor, `HBM floor ${fixed(floor, 2)} ms`, '#444')]) : {}),
      xaxis: { title: { text: 'system' } },
      yaxis: { title: { text: 'ms per token' }, range: [0, Math.max(...ps.map((p) => p.max), floor ?? 0) * 1.2] },
      showlegend: false,
    }, [runsNote(ps), missingNote(missing)]),
  };
}

/** decode: bytes copied host-to-device per generated token, per system (the KV round trip of stateless decoding). */
export function bytesPerTokenFigure(r: Results): Figure {
  const fields = swept(r.rows, PARAMETERS['decode'] as string[]);
  const { points: ps, missing } = points(groupBy(r.rows, (row) => barLabel(row, decodeSystem(row), fields)), 'h2d_bytes_per_token');
  const mb = ps.map((p) => ({ ...p, median: p.median / 1e6, min: p.min / 1e6, max: p.max / 1e6 }));
  return {
    data: [bars('bytes per token', mb, (p) => `${fixed(p.median, 3)} MB`)],
    layout: layout('Host-to-device bytes per decoded token', r, {
      xaxis: { title: { text: 'system' } },
      yaxis: { title: { text: 'MB per token' }, rangemode: 'tozero' },
      showlegend: false,
    }, [runsNote(mb), missingNote(missing)]),
  };
}

/**
 * steering: how much the output changes (relative change of the logits) against the scale the layer's
 * output was multiplied by, one line per layer; or, when the scale was not swept, against the layer,
 * one line per edit.
 */
export function steeringFigure(r: Results): Figure {
  const fields = swept(r.rows, PARAMETERS['steering'] as string[]).filter((f) => f !== 'edit');
  const byScale = swept(r.rows, ['scale']).length > 0;
  const { data, ps, missing } = byScale
    ? lines(r.rows, (row) => rowLabel(row, `layer ${String(row['layer'])}`, fields), 'scale', 'output_change', '')
    : lines(r.rows, (row) => rowLabel(row, String(row['edit'] ?? 'edit'), fields), 'layer', 'output_change', '');
  return {
    data,
    layout: layout(`Output change against the steering ${byScale ? 'scale' : 'layer'}`, r, {
      xaxis: { title: { text: byScale ? 'scale of the layer output' : 'steered layer' } },
      yaxis: { title: { text: 'output change (relative, logits)' }, rangemode: 'tozero' },
    }, [runsNote(ps), missingNote(missing)]),
  };
}

/** The placements of a streaming result that have a prefill timeline with copies, in row order. */
function copyingPlacements(r: Results): string[] {
  const placements = [...new Set(r.rows.map((row) => String(row['placement'])))];
  return placements.filter((p) => (r.timelines?.[p]?.['prefill'] ?? []).some((e) => e.copyStartMs !== null));
}

const hasMetric = (r: Results, metric: string): boolean => r.rows.some((row) => typeof row[metric] === 'number');

/**
 * Every figure a result has data for: none for benchmarks without figures (correctness), none for a
 * metric no run measured (every run failed: the table says why).
 */
export function figuresFor(r: Results): Figure[] {
  const when = (metric: string, figure: (r: Results) => Figure): Figure[] => (hasMetric(r, metric) ? [figure(r)] : []);
  switch (r.benchmark) {
    case 'copy_bandwidth':
      return when('bandwidth_gbps', copyBandwidthFigure);
    case 'streaming':
      return [...when('effective_bandwidth_gbps', bandwidthFigure), ...copyingPlacements(r).map((p) => timelineFigure(r, p)), ...when('peak_vram_gb', vramFigure)];
    case 'decode':
      return [...when('per_token_ms', decodeFigure), ...when('h2d_bytes_per_token', bytesPerTokenFigure)];
    case 'breakpoints':
      return when('resume_ms', resumeFigure);
    case 'steering':
      return when('output_change', steeringFigure);
    default:
      return [];
  }
}

// --- HTML --------------------------------------------------------------------------------------------

let plotlySource: string | undefined;

/** A <script> element holding plotly.js (plotly.js-dist-min, about 4.7 MB): a page needs it once. */
export function plotlyScript(): string {
  plotlySource ??= readFileSync(createRequire(import.meta.url).resolve('plotly.js-dist-min'), 'utf8').replace(/<\/script/gi, '<\\/script');
  return `<script>${plotlySource}</script>`;
}

/** JSON that is safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/**
 * A figure as a <div> and the <script> that draws it once plotly.js is on the page (it waits up to
 * 10 s for it, then says so in the div).
 */
export function figureHtml(figure: Figure, id = `vramlab-figure-${randomUUID()}`): string {
  return `<div class="vramlab-figure" id="${id}"></div>
<script>(function draw(tries) {
  var div = document.getElementById(${scriptJson(id)});
  if (window.Plotly) return window.Plotly.newPlot(div, ${scriptJson(figure.data)}, ${scriptJson(figure.layout)}, { responsive: true, displaylogo: false });
  if (tries > 200) { div.textContent = 'plotly.js did not load: this page needs the plotly.js script that vramlab embeds once per notebook or report'; return; }
  setTimeout(function () { draw(tries + 1); }, 50);
})(0);</script>`;
}
