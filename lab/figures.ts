// figures.ts: what every measure's figures are made of: plotly.js figures (plain data: traces and a
// layout), titled with the run's evidence (device, commit, model, budget, the correctness check), rows
// grouped by what a sweep varied and drawn at their median with an error bar from the smallest to the
// largest run, reference lines, notes (the HTML that draws a figure: figure-html.ts). Each measure's
// own figures are in its module (lab/measures/).
//
// Results come from bench/*.ts (one row per baseline, medians) or from an experiment run (one row per
// measured run, parameters swept): rows with the same parameters are one point, at their median;
// runs that failed (status out_of_memory, ...) are named in a note instead.
import type { Annotation, BarData, Data, ErrorBar, Layout, LayoutAxis, Shape } from 'plotly.js-dist-min';
import { columnTitle, sizeUnit } from './columns.js';
import { integerTicks } from './axes.js';
import { type BarTop, CHAR_PX, FIGURE_HEIGHT, lineObstacle, MARGIN_BOTTOM, MARGIN_TOP, type Obstacle, placeBarLabels, PLOT_WIDTH_PX, plotHeightPx, stackShifts } from './placement.js';
import type { Results, Row } from './results.js';
import { median } from './stats.js';

export interface Figure {
  data: Data[];
  layout: Layout;
}

export const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];
export const color = (i: number): string => COLORS[i % COLORS.length] as string;

export function fixed(x: number, digits = 1): string {
  return x.toFixed(digits);
}

/** Bytes in GB (1e9), MB, KB or bytes, to one decimal: "12.0 GB", "6.0 MB". */
export function sizeLabel(bytes: number): string {
  const { unit, scale } = sizeUnit(bytes);
  return `${fixed(bytes / scale)} ${unit}`;
}

// --- rows: grouping, sweeps, medians -------------------------------------------------------------

/** The parameters among `fields` with more than one value (null aside) between rows: what a sweep varied. */
export function swept(rows: readonly Row[], fields: readonly string[]): string[] {
  return fields.filter((f) => new Set(rows.map((r) => r[f]).filter((v) => v !== null && v !== undefined).map((v) => JSON.stringify(v))).size > 1);
}

function paramText(field: string, v: unknown): string {
  if (typeof v === 'number' && field.endsWith('_bytes')) return `${field.slice(0, -6)}=${sizeLabel(v)}`;
  return `${field}=${String(v)}`;
}

/** A row's name in a figure: `base` and its values of the swept parameters ("stream ring=1.0 GB"). */
export function rowLabel(row: Row, base: string, fields: readonly string[], separator = ' '): string {
  return [base, ...fields.filter((f) => row[f] !== null && row[f] !== undefined).map((f) => paramText(f, row[f]))].join(separator);
}

/** The label of a bar: the parameters on lines of their own under the name. */
export function barLabel(row: Row, base: string, fields: readonly string[]): string {
  return rowLabel(row, base, fields, '<br>');
}

/** Rows grouped by a key, in the order the keys first appear. */
export function groupBy(rows: readonly Row[], key: (r: Row) => string): Map<string, Row[]> {
  const groups = new Map<string, Row[]>();
  for (const r of rows) {
    const k = key(r);
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return groups;
}

export interface Point {
  name: string;
  median: number;
  min: number;
  max: number;
  runs: number;
}

/** The median and range of `metric` over a group's rows; null when no run measured it. */
export function point(name: string, rows: readonly Row[], metric: string): Point | null {
  const xs = rows.map((r) => r[metric]).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  if (xs.length === 0) return null;
  return { name, median: median(xs), min: Math.min(...xs), max: Math.max(...xs), runs: xs.length };
}

/** Points per group; the groups without a measurement are returned as `missing`. */
export function points(groups: Map<string, Row[]>, metric: string): { points: Point[]; missing: string[] } {
  const out: Point[] = [];
  const missing: string[] = [];
  for (const [name, rows] of groups) {
    const p = point(name, rows, metric);
    if (p) out.push(p);
    else missing.push(`${name} (${[...new Set(rows.map((r) => String(r['status'] ?? 'not measured')))].join(', ')})`);
  }
  return { points: out, missing };
}

/** Points in another unit: each value divided by `scale` (bytes to MB: 1e6). */
export function inUnit(ps: readonly Point[], scale: number): Point[] {
  return ps.map((p) => ({ ...p, median: p.median / scale, min: p.min / scale, max: p.max / scale }));
}

/** Error bars from each point's smallest to largest run, when any point has more than one run. */
export function spread(ps: readonly Point[]): { error_y?: Partial<ErrorBar> } {
  if (!ps.some((p) => p.runs > 1)) return {};
  return { error_y: { type: 'data', symmetric: false, array: ps.map((p) => p.max - p.median), arrayminus: ps.map((p) => p.median - p.min), visible: true } };
}

export function runsNote(ps: readonly Point[]): string {
  const most = Math.max(0, ...ps.map((p) => p.runs));
  return most > 1 ? `(median of ${most} runs, bars from min to max)` : '';
}

// --- layout: evidence, reference lines, notes --------------------------------------------------------

/**
 * A model as people name it: a synthetic spec as written ("synthetic:llama-7b"), a model directory by
 * its folder's name ("../test/fixtures/tiny-llama-gqa" is "tiny-llama-gqa").
 */
export function modelName(model: string): string {
  if (model.startsWith('synthetic:')) return model;
  return model.split(/[\\/]+/).filter(Boolean).pop() ?? model;
}

/** The run's evidence in one line: device, driver, commit, model and its size, budget, date, correctness check. */
export function evidence(r: Results): string {
  const parts = [r.device];
  if (r.driver) parts.push(`driver ${r.driver}`);
  parts.push(`commit ${r.commit.slice(0, 7)}`);
  if (r.model) parts.push(typeof r.weight_bytes === 'number' ? `${modelName(r.model)} (${sizeLabel(r.weight_bytes)} of weights)` : modelName(r.model));
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
  return { xref: 'paper', x: 0, xanchor: 'left', yref: 'paper', y: 1.02, yanchor: 'bottom', showarrow: false, font: { size: 11 }, align: 'left', text };
}

/** The most characters of an 11 px line of text over the plot (notes, the evidence) at its least width. */
const LINE_CHARS = Math.floor(PLOT_WIDTH_PX / CHAR_PX);
/** The height of a line of 11 px text in a note, and in the title, in pixels. */
const NOTE_LINE_PX = 15;
const TITLE_LINE_PX = 20;

const FULL_NUMBERS: Partial<LayoutAxis> = { exponentformat: 'none', separatethousands: true };

/** The title's pad from the top of the figure: plotly anchors a title of several lines by its first baseline, so its top is 14 px above (12 px from the top). */
const TITLE_PAD_PX = 26;

/**
 * Text in lines of at most `chars` characters, broken at its `separator`s (a broken line keeps the
 * separator's mark, ";" or "·", at its end), a part longer than a line at its spaces.
 */
export function wrapText(text: string, chars: number, separator = ' '): string[] {
  const mark = separator.trimEnd();
  const lines: string[] = [];
  for (const part of text.split(separator)) {
    const last = lines.length - 1;
    // A line keeps room for the mark it ends with when the next part goes on a line of its own.
    if (last >= 0 && (lines[last] as string).length + separator.length + part.length + mark.length <= chars) lines[last] += separator + part;
    else {
      if (last >= 0) lines[last] += mark;
      lines.push(...(part.length > chars && separator !== ' ' ? wrapText(part, chars) : [part]));
    }
  }
  return lines;
}

/** The right margin: room for the labels of reference lines, which sit right of the plot. */
function rightMargin(annotations: readonly Partial<Annotation>[]): number {
  const outside = annotations.filter((a) => a.xref === 'paper' && typeof a.x === 'number' && a.x >= 1).map((a) => String(a.text ?? '').length * CHAR_PX + 14);
  return Math.max(30, ...outside);
}

/**
 * A figure's layout: the title with the run's evidence at the top, notes above the plot (both
 * wrapped to the plot's least width, the top margin and the height grown by their lines past the
 * first, so that the plot keeps its height), the legend at the bottom of the figure under the x
 * axis title (never between the ticks and the title), and a right margin that holds the labels of
 * reference lines.
 */
export function layout(title: string, r: Results, extra: Layout, notes: string[] = []): Layout {
  const noteLines = notes.some(Boolean) ? wrapText(notes.filter(Boolean).join('; '), LINE_CHARS, '; ') : [];
  const evidenceLines = wrapText(evidence(r), LINE_CHARS, ' · ');
  const grow = Math.max(0, noteLines.length - 1) * NOTE_LINE_PX + (evidenceLines.length - 1) * TITLE_LINE_PX;
  const annotations = [...(extra.annotations ?? []), ...(noteLines.length > 0 ? [note(noteLines.join('<br>'))] : [])];
  return {
    title: { text: `${title}<br><span style="font-size:11px;color:#666">${evidenceLines.join('<br>')}</span>`, font: { size: 15 }, yref: 'container', y: 1, yanchor: 'top', pad: { t: TITLE_PAD_PX } },
    // Without a legend the bottom margin holds the x axis title only (labels were placed for the larger one).
    margin: { t: MARGIN_TOP + grow, l: 70, r: rightMargin(annotations), b: extra.showlegend === false ? 70 : MARGIN_BOTTOM },
    showlegend: true,
    legend: { orientation: 'h', yref: 'container', y: 0, yanchor: 'bottom', x: 0, xanchor: 'left' },
    ...extra,
    // Numbers in full on every axis: "10,000", not plotly's "10k".
    xaxis: { ...FULL_NUMBERS, ...extra.xaxis },
    yaxis: { ...FULL_NUMBERS, ...extra.yaxis },
    height: (extra.height ?? FIGURE_HEIGHT) + grow,
    annotations,
  };
}

export interface RefLine {
  shape: Shape;
  annotation: Annotation;
}

/** A horizontal reference line across the plot at y, labelled right of the plot at its height (on no bar, no line). */
export function hline(y: number, label: string, lineColor: string): RefLine {
  return {
    shape: { type: 'line', xref: 'paper', x0: 0, x1: 1, yref: 'y', y0: y, y1: y, line: { color: lineColor, width: 2, dash: 'dash' } },
    annotation: { xref: 'paper', x: 1, xanchor: 'left', xshift: 6, yref: 'y', y, yanchor: 'middle', text: label, showarrow: false, font: { color: lineColor, size: 11 } },
  };
}

/** Reference lines in a layout; labels of lines closer than a label's height are stacked (`unitsPerPx`: the y axis's data units per pixel, when known). */
export function withLines(lines: readonly RefLine[], unitsPerPx = 0): Layout {
  const shifts = stackShifts(lines.map((l) => l.shape.y0 as number), unitsPerPx);
  return { shapes: lines.map((l) => l.shape), annotations: lines.map((l, i) => (shifts[i] ? { ...l.annotation, yshift: shifts[i] } : l.annotation)) };
}

/** A marker drawn at a category (a diamond of `sizePx`) that bar labels keep clear of. */
export interface Mark {
  x: string;
  y: number;
  sizePx: number;
}

/** How many times the tallest bar a reference line may be and still be drawn: above that the bars would be drawn flat. */
const FAR_LINE = 10;

/**
 * The layout of a bar figure: each bar's label above it and its error bar, moved past the reference
 * lines and markers it would cover, the lines labelled right of the plot, and the y range from 0 that
 * holds it all (lab/placement.ts). A line more than FAR_LINE times the tallest bar is left off the
 * axis and its label returned in `note` instead (a CPU run's bars under a copy bandwidth 20 times
 * them would be drawn flat).
 */
export function barLayout(tops: readonly BarTop[], refs: readonly RefLine[] = [], marks: readonly Mark[] = [], height = FIGURE_HEIGHT): { shapes: Shape[]; annotations: Annotation[]; range: [number, number]; note: string } {
  const tallest = Math.max(0, ...tops.map((t) => t.top), ...marks.map((m) => m.y));
  const far = (l: RefLine) => tallest > 0 && (l.shape.y0 as number) > FAR_LINE * tallest;
  const drawn = refs.filter((l) => !far(l));
  const obstacles = (unit: number): Obstacle[] => [
    ...drawn.map((l) => lineObstacle(l.shape.y0 as number, unit)),
    ...marks.map((m) => ({ x: m.x, y0: m.y - (m.sizePx / 2 + 1) * unit, y1: m.y + (m.sizePx / 2 + 1) * unit })),
  ];
  const placed = placeBarLabels(tops, obstacles, height);
  const lines = withLines(drawn, placed.top / plotHeightPx(height));
  const offAxis = refs.filter(far).map((l) => String(l.annotation.text));
  return {
    shapes: lines.shapes ?? [],
    annotations: [...(placed.annotations as Annotation[]), ...(lines.annotations ?? [])],
    range: [0, placed.top],
    note: offAxis.length > 0 ? `off the axis, over ${FAR_LINE}x the tallest bar: ${offAxis.join(', ')}` : '',
  };
}

/** Each point's bar top (its median, or the top of its error bar) and its label (or the label's parts: placeBarLabels). */
export function barTops(ps: readonly Point[], text: (p: Point) => string | readonly string[]): BarTop[] {
  return ps.map((p) => ({ x: p.name, top: Math.max(p.median, p.max), label: text(p) }));
}

export const missingNote = (missing: string[]): string => (missing.length > 0 ? `not measured: ${missing.join(', ')}` : '');

/** Bars of points (median, range), coloured in turn; their labels come from barTops and barLayout. */
export function bars(name: string, ps: Point[]): Partial<BarData> {
  return {
    type: 'bar',
    name,
    x: ps.map((p) => p.name),
    y: ps.map((p) => p.median),
    marker: { color: ps.map((_, i) => color(i)) },
    ...spread(ps),
  };
}

/**
 * One line per group of rows (`traceOf`), x from `x`, y the median of `metric` over equal x; `xaxis`
 * titled with the column's title, with integer ticks when every x is an integer (sessions, layers).
 */
export function lines(rows: readonly Row[], traceOf: (r: Row) => string, x: string, metric: string, hover: string): { data: Data[]; ps: Point[]; missing: string[]; xaxis: Partial<LayoutAxis> } {
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
  const xs = all.map((p) => Number(p.name)).filter(Number.isFinite);
  const integers = xs.length > 0 && xs.every(Number.isInteger);
  // No zero line on x: at x = 0 (layer 0) it is a vertical line through the first points and their whiskers.
  return { data, ps: all, missing, xaxis: { title: { text: columnTitle(x) }, zeroline: false, ...(integers ? integerTicks(xs) : {}) } };
}

/** Where a measure's figures tell why a figure was left out: one line each. */
export type FigureNote = (line: string) => void;

/**
 * True when some row measured `metric` as a number other than 0: a figure of it has something to
 * draw. Otherwise tells `note` in one line why the figure `what` is left out (`zeroWhy`: what a 0
 * means, "the weights are resident").
 */
export function measured(r: Results, metric: string, what: string, note?: FigureNote, zeroWhy?: string): boolean {
  const xs = r.rows.map((row) => row[metric]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  if (xs.some((x) => x !== 0)) return true;
  const statuses = [...new Set(r.rows.map((row) => String(row['status'] ?? 'ok')).filter((s) => s !== 'ok'))];
  const why = xs.length > 0 ? `${metric} is 0 in every row${zeroWhy ? ` (${zeroWhy})` : ''}` : `no row measured ${metric}${statuses.length > 0 ? ` (${statuses.join(', ')})` : ''}`;
  note?.(`${what}: not drawn: ${why}`);
  return false;
}

/** A figure's title without its evidence line. */
export function figureTitle(f: Figure): string {
  const title = f.layout.title;
  const text = typeof title === 'string' ? title : (title?.text ?? 'figure');
  return text.replace(/<br>.*$/s, '');
}
