// figures.ts: plotly.js figures (plain data: traces and a layout) from results, the ones the seeds ask
// for, each titled with its evidence (device, commit, model, budget, the run's correctness check);
// and the HTML that draws them on a page that has plotly.js (plotlyScript embeds it, offline).
//
//   streaming    effective bandwidth per placement (bars, pinned H2D line); per-layer copy and compute
//                timeline of each streamed placement; peak VRAM per placement (budget line)
//   decode       per-token latency per system (HF transformers, vramlab) and the HBM floor
//   breakpoints  resume latency against breakpoint depth, one line per baseline (the crossover)
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Annotation, Data, Layout, Shape } from 'plotly.js-dist-min';
import { VramlabError } from './errors.js';
import type { Results, Row } from './results.js';

export interface Figure {
  data: Data[];
  layout: Layout;
}

/** One layer of a pass, as the runtime's per-layer timeline reports it (ms from the pass's start). */
export interface TimelineEntry {
  layer: number;
  copyStartMs: number | null;
  copyEndMs: number | null;
  computeStartMs: number;
  computeEndMs: number;
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

function numbers(rows: readonly Row[], key: string): number[] {
  return rows.map((r) => r[key] as number);
}

function strings(rows: readonly Row[], key: string): string[] {
  return rows.map((r) => String(r[key]));
}

function fixed(x: number, digits = 1): string {
  return x.toFixed(digits);
}

/** Bytes in GB (1e9), or MB below 1 GB: "12.0 GB", "6.0 MB". */
function sizeLabel(bytes: number): string {
  return bytes >= 1e9 ? `${fixed(bytes / 1e9)} GB` : `${fixed(bytes / 1e6)} MB`;
}

/** The run's evidence in one line: device, driver, commit, model, budget, date, correctness check. */
export function evidence(r: Results): string {
  const parts = [r.device];
  if (typeof r['driver'] === 'string') parts.push(`driver ${r['driver']}`);
  parts.push(`commit ${r.commit.slice(0, 7)}`);
  if (r.model) parts.push(r.model);
  if (typeof r['budget_bytes'] === 'number') parts.push(`budget ${sizeLabel(r['budget_bytes'])}`);
  if (r.date) parts.push(r.date.slice(0, 10));
  const errs = r.rows.map((row) => row['logit_rel_err']).filter((e): e is number => typeof e === 'number');
  const worst = Math.max(...errs);
  if (errs.length > 0) parts.push(worst === 0 ? 'logits identical to the resident run' : `logit rel. error vs resident ≤ ${worst.toExponential(1)}`);
  return parts.join(' · ');
}

function layout(title: string, r: Results, extra: Layout): Layout {
  return {
    title: { text: `${title}<br><span style="font-size:11px;color:#666">${evidence(r)}</span>`, font: { size: 15 } },
    height: 420,
    margin: { t: 80, l: 70, r: 30, b: 60 },
    showlegend: true,
    legend: { orientation: 'h', y: -0.18 },
    ...extra,
  };
}

/** A horizontal reference line across the plot at y, labelled at its right end. */
function hline(y: number, label: string, color: string): { shape: Shape; annotation: Annotation } {
  return {
    shape: { type: 'line', xref: 'paper', x0: 0, x1: 1, yref: 'y', y0: y, y1: y, line: { color, width: 2, dash: 'dash' } },
    annotation: { xref: 'paper', x: 1, xanchor: 'right', yref: 'y', y, yanchor: 'bottom', text: label, showarrow: false, font: { color, size: 11 } },
  };
}

function withLines(lines: { shape: Shape; annotation: Annotation }[]): Layout {
  return { shapes: lines.map((l) => l.shape), annotations: lines.map((l) => l.annotation) };
}

/** Streaming: effective bandwidth (bytes streamed / wall time) per placement, with the machine's pinned and pageable H2D bandwidth. */
export function bandwidthFigure(r: Results): Figure {
  const bw = numbers(r.rows, 'effective_bandwidth_gbps');
  const pinned = r['pinned_h2d_gbps'] as number;
  const lines = [hline(pinned, `pinned H2D ${fixed(pinned)} GB/s`, '#444')];
  if (typeof r['pageable_h2d_gbps'] === 'number') lines.push(hline(r['pageable_h2d_gbps'], `pageable H2D ${fixed(r['pageable_h2d_gbps'])} GB/s`, '#999'));
  return {
    data: [
      {
        type: 'bar',
        name: 'effective bandwidth',
        x: strings(r.rows, 'placement'),
        y: bw,
        text: bw.map((b) => `${fixed(b)} GB/s (${fixed((100 * b) / pinned, 0)}% of pinned)`),
        textposition: 'auto',
        marker: { color: r.rows.map((_, i) => COLORS[i % COLORS.length] as string) },
      },
    ],
    layout: layout('Effective bandwidth per placement', r, {
      ...withLines(lines),
      xaxis: { title: { text: 'placement' } },
      yaxis: { title: { text: 'GB/s' }, range: [0, Math.max(pinned, ...bw) * 1.2] },
      showlegend: false,
    }),
  };
}

/** The per-layer timeline of a streaming run, or an error naming what is missing. */
export function timeline(r: Results, placement: string, pass: string): TimelineEntry[] {
  const all = r['timelines'] as Record<string, Record<string, TimelineEntry[] | undefined> | undefined> | undefined;
  const t = all?.[placement]?.[pass];
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

/** Streaming: when each layer's weights were copied (copy stream) and computed (compute stream) in one pass. */
export function timelineFigure(r: Results, placement: string, pass = 'prefill'): Figure {
  const t = timeline(r, placement, pass);
  const copies = t.filter((e) => e.copyStartMs !== null && e.copyEndMs !== null);
  const computeMs = t.reduce((a, e) => a + e.computeEndMs - e.computeStartMs, 0);
  const lane = (name: string, entries: TimelineEntry[], start: (e: TimelineEntry) => number, end: (e: TimelineEntry) => number, color: string): Data => ({
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
    marker: { color, line: { color: '#fff', width: 1 } },
  });
  const overlap = overlapMs(t);
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
      annotations: [
        {
          xref: 'paper', x: 0, xanchor: 'left', yref: 'paper', y: 1.02, yanchor: 'bottom', showarrow: false, font: { size: 11 },
          text: `${copies.length} of ${t.length} layers copied; compute overlapped with copies ${fixed(overlap, 2)} of ${fixed(computeMs, 2)} ms`,
        },
      ],
    }),
  };
}

/**
 * Streaming: peak VRAM per placement against the budget (and the resident run without a budget), in
 * GB, or in MB when the budget is under 1 GB (the CPU runs of tiny models).
 */
export function vramFigure(r: Results): Figure {
  const budgetBytes = r['budget_bytes'] as number;
  const [unit, scale] = budgetBytes >= 1e9 ? ['GB', 1] : ['MB', 1e3];
  const peak = numbers(r.rows, 'peak_vram_gb').map((p) => p * scale);
  const budget = (budgetBytes / 1e9) * scale;
  const lines = [hline(budget, `budget ${fixed(budget)} ${unit}`, '#d62728')];
  const ref = r['resident_reference'] as { peak_vram_gb?: unknown } | null | undefined;
  if (typeof ref?.peak_vram_gb === 'number') lines.push(hline(ref.peak_vram_gb * scale, `resident, no budget: ${fixed(ref.peak_vram_gb * scale)} ${unit}`, '#444'));
  return {
    data: [
      {
        type: 'bar',
        name: 'peak VRAM',
        x: strings(r.rows, 'placement'),
        y: peak,
        text: peak.map((p) => `${fixed(p, 2)} ${unit}`),
        textposition: 'outside',
        marker: { color: '#2ca02c' },
      },
    ],
    layout: layout('Peak VRAM per placement', r, {
      ...withLines(lines),
      xaxis: { title: { text: 'placement' } },
      yaxis: { title: { text: unit }, range: [0, Math.max(...peak, ...lines.map((l) => l.shape.y0 as number)) * 1.15] },
      showlegend: false,
    }),
  };
}

/** Breakpoints: resume latency against the breakpoint's layer, one line per baseline. */
export function resumeFigure(r: Results): Figure {
  const baselines = [...new Set(strings(r.rows, 'baseline'))];
  const data: Data[] = baselines.map((b, i) => {
    const rows = r.rows.filter((row) => row['baseline'] === b).sort((a, c) => (a['layer'] as number) - (c['layer'] as number));
    return {
      type: 'scatter',
      mode: 'lines+markers',
      name: b,
      x: numbers(rows, 'layer'),
      y: numbers(rows, 'resume_ms'),
      marker: { size: 9, color: COLORS[i % COLORS.length] },
      hovertemplate: `${b}, layer %{x}: %{y:.3f} ms<extra></extra>`,
    };
  });
  const pause = r['pause_overhead_ms'];
  return {
    data,
    layout: layout('Resume latency against breakpoint depth', r, {
      xaxis: { title: { text: 'breakpoint after layer' } },
      yaxis: { title: { text: 'resume latency (ms)' }, rangemode: 'tozero' },
      annotations: typeof pause === 'number'
        ? [{ xref: 'paper', x: 0, xanchor: 'left', yref: 'paper', y: 1.02, yanchor: 'bottom', showarrow: false, font: { size: 11 }, text: `pause overhead ${pause.toFixed(3)} ms` }]
        : [],
    }),
  };
}

/** Decode: per-token latency per system, with the HBM floor (weight bytes / device-to-device bandwidth). */
export function decodeFigure(r: Results): Figure {
  const ms = numbers(r.rows, 'per_token_ms');
  const floor = r['hbm_floor_ms'] as number | null;
  return {
    data: [
      {
        type: 'bar',
        name: 'per-token latency',
        x: strings(r.rows, 'system'),
        y: ms,
        text: ms.map((m) => (floor ? `${fixed(m, 2)} ms (${fixed(m / floor, 2)}x floor)` : `${fixed(m, 2)} ms`)),
        textposition: 'outside',
        marker: { color: r.rows.map((_, i) => COLORS[i % COLORS.length] as string) },
      },
    ],
    layout: layout('Decode latency per token', r, {
      ...(floor ? withLines([hline(floor, `HBM floor ${fixed(floor, 2)} ms`, '#444')]) : {}),
      xaxis: { title: { text: 'system' } },
      yaxis: { title: { text: 'ms per token' }, range: [0, Math.max(...ms, floor ?? 0) * 1.2] },
      showlegend: false,
    }),
  };
}

/** The streamed placements that have a timeline with copies, in row order. */
function streamedPlacements(r: Results): string[] {
  const all = (r['timelines'] ?? {}) as Record<string, Record<string, TimelineEntry[] | undefined>>;
  return strings(r.rows, 'placement').filter((p) => (all[p]?.['prefill'] ?? []).some((e) => e.copyStartMs !== null));
}

/** Every figure a result has (none for benchmarks without figures, e.g. correctness). */
export function figuresFor(r: Results): Figure[] {
  switch (r.benchmark) {
    case 'streaming':
      return [bandwidthFigure(r), ...streamedPlacements(r).map((p) => timelineFigure(r, p)), vramFigure(r)];
    case 'decode':
      return [decodeFigure(r)];
    case 'breakpoints':
      return [resumeFigure(r)];
    default:
      return [];
  }
}

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
