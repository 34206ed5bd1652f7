// The figures' specs read as drawn: no trace without anything to draw, no label over a bar, a
// reference line, a marker or another label (boxes computed in data coordinates from the spec's own
// size), integer ticks on count axes, the legend under the x axis title, axis titles that are the
// table's column titles, and a figure of a metric that is 0 everywhere left out with a note.
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { columnTitle, type Figure, figureSet, frameHtml, readResults, type Results, resultsFrame } from '../../lab/index.js';
import { BENCH_RESULTS } from '../results-fixtures.js';

type Trace = { type?: string; orientation?: string; mode?: string; x?: unknown[]; y?: unknown[]; z?: unknown[]; text?: unknown; textposition?: string; error_y?: { array?: number[] }; marker?: { size?: number } };
type Box = { x0: number; x1: number; y0: number; y1: number; what: string };

/** Height in pixels of an 11 px label line as plotly draws it. */
const LABEL_PX = 14;
/** Width in pixels of one character of an 11 px label (an average for digits and letters). */
const CHAR_PX = 6;
/** The narrowest plot the figures are read at: a notebook cell. */
const PLOT_WIDTH_PX = 800;

const bench = readdirSync(BENCH_RESULTS).filter((f) => f.endsWith('.json')).map((f) => [f, readResults(`${BENCH_RESULTS}/${f}`)] as const);

const base = { device: 'cpu (2 threads)', commit: '56db451', date: '2026-12-02T10:00:00Z', model: '../test/fixtures/tiny-llama-gqa', weight_bytes: 1_600_000, budget_bytes: 25_275_990_016 };
/** A CPU decode run: one system, sessions swept, nothing copied per token (the model is resident). */
const cpuDecode: Results = {
  ...base,
  benchmark: 'decode',
  rows: [1, 2, 4].flatMap((sessions) => [0, 1].map((run) => ({ baseline: 'kv-cache', sessions, run_id: run, per_token_ms: 0.8 + sessions * 0.1 + run * 0.01, h2d_bytes_per_token: 0, status: 'ok' }))),
};
const inputs: (readonly [string, Results])[] = [...bench, ['cpu decode, sessions swept', cpuDecode]];

const traces = (f: Figure) => f.data as unknown as Trace[];
const values = (t: Trace) => (t.z ?? (t.orientation === 'h' ? t.x : t.y) ?? []).flat(2) as unknown[];

/** The plot's y scale: data units per pixel, from the figure's height, margins and y range. */
function yScale(f: Figure): { unit: number; range: [number, number] } | null {
  const range = f.layout.yaxis?.range as [number, number] | undefined;
  if (!range) return null;
  const m = f.layout.margin as { t: number; b: number };
  return { unit: (range[1] - range[0]) / ((f.layout.height as number) - m.t - m.b), range };
}

/** The categories of a bar figure's x axis, in order. */
const categories = (f: Figure) => [...new Set(traces(f).filter((t) => t.type === 'bar' && t.orientation !== 'h').flatMap((t) => (t.x ?? []).map(String)))];

/** What labels must not cover: bars (stacked where barmode says so) with their error bars, reference lines, markers. */
function obstacles(f: Figure, unit: number): Box[] {
  const cats = categories(f);
  const out: Box[] = [];
  const stack = new Map<string, number>();
  for (const t of traces(f)) {
    if (t.type === 'bar' && t.orientation !== 'h') {
      (t.x ?? []).forEach((x, i) => {
        const c = cats.indexOf(String(x));
        const y0 = f.layout.barmode === 'stack' ? (stack.get(String(x)) ?? 0) : 0;
        const y1 = y0 + Number(t.y?.[i]) + (t.error_y?.array?.[i] ?? 0);
        if (f.layout.barmode === 'stack') stack.set(String(x), y0 + Number(t.y?.[i]));
        out.push({ x0: c - 0.4, x1: c + 0.4, y0, y1, what: `bar ${String(x)}` });
      });
    } else if (t.type === 'scatter' && t.mode === 'markers' && cats.length > 0) {
      const r = ((t.marker?.size ?? 6) / 2) * unit;
      const halfWidth = (t.marker?.size ?? 6) / 2 / (PLOT_WIDTH_PX / cats.length);
      (t.x ?? []).forEach((x, i) => {
        const c = cats.indexOf(String(x));
        out.push({ x0: c - halfWidth, x1: c + halfWidth, y0: Number(t.y?.[i]) - r, y1: Number(t.y?.[i]) + r, what: `marker ${String(x)}` });
      });
    }
  }
  for (const s of f.layout.shapes ?? []) if (s.type === 'line' && s.y0 === s.y1) out.push({ x0: -Infinity, x1: Infinity, y0: (s.y0 as number) - unit, y1: (s.y0 as number) + unit, what: `line at ${String(s.y0)}` });
  return out;
}

/** Boxes of the labels drawn over the plot: annotations in data coordinates, and bar texts. */
function labels(f: Figure, unit: number): Box[] {
  const cats = categories(f);
  const slot = PLOT_WIDTH_PX / Math.max(1, cats.length);
  const out: Box[] = [];
  for (const a of f.layout.annotations ?? []) {
    if (a.yref !== 'y' || (a.xref === 'paper' && (a.x as number) >= 1 && a.xanchor === 'left')) continue; // notes above the plot, labels right of it
    const text = String(a.text ?? '');
    const lines = text.split('<br>');
    const h = lines.length * LABEL_PX * unit;
    const y = (a.y as number) + (a.yshift ?? 0) * unit;
    const [y0, y1] = a.yanchor === 'bottom' ? [y, y + h] : a.yanchor === 'top' ? [y - h, y] : [y - h / 2, y + h / 2];
    const w = (Math.max(...lines.map((l) => l.length)) * CHAR_PX) / slot;
    const xc = a.xref === 'paper' ? -0.5 + (a.x as number) * cats.length : typeof a.x === 'number' ? a.x : cats.indexOf(String(a.x));
    const [x0, x1] = a.xanchor === 'right' ? [xc - w, xc] : a.xanchor === 'left' ? [xc, xc + w] : [xc - w / 2, xc + w / 2];
    out.push({ x0, x1, y0, y1, what: `label "${text}"` });
  }
  for (const t of traces(f)) {
    if (t.type !== 'bar' || t.orientation === 'h' || !Array.isArray(t.text)) continue;
    (t.y ?? []).forEach((y, i) => {
      const c = cats.indexOf(String(t.x?.[i]));
      const inside = t.textposition !== 'outside';
      const top = Number(y);
      const w = (String((t.text as unknown[])[i]).length * CHAR_PX) / slot;
      out.push({ x0: c - w / 2, x1: c + w / 2, y0: inside ? top - (LABEL_PX + 3) * unit : top, y1: inside ? top - 3 * unit : top + LABEL_PX * unit, what: `bar text "${String((t.text as unknown[])[i])}"` });
    });
  }
  return out;
}

const overlap = (a: Box, b: Box) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;

const figureCases = inputs.flatMap(([name, r]) => figureSet(r).figures.map((f, i) => [`${name} #${i + 1} ${(f.layout.title as { text: string }).text.replace(/<br>.*/, '')}`, f, r] as const));

describe('every figure of the H200 results and of a CPU run', () => {
  it.each(figureCases)('%s: no trace with nothing to draw', (_, f) => {
    for (const t of traces(f)) expect(values(t).some((v) => typeof v === 'number' && v !== 0)).toBe(true);
  });

  it.each(figureCases)('%s: labels clear of bars, lines, markers and each other', (_, f) => {
    const scale = yScale(f);
    const cats = categories(f);
    if (cats.length === 0) return; // line and timeline figures label nothing over the plot
    expect(scale).not.toBeNull(); // a bar figure says its y range, so that label boxes can be known
    const ls = labels(f, scale!.unit);
    const obs = obstacles(f, scale!.unit);
    const hits = ls.flatMap((l) => [...obs, ...ls.filter((o) => o !== l)].filter((o) => overlap(l, o)).map((o) => `${l.what} covers ${o.what}`));
    expect(hits).toEqual([]);
    for (const l of ls) expect(l.y1).toBeLessThanOrEqual(scale!.range[1]); // inside the plot
    // Each label over a bar is inside the bar's slot (a category is 1 wide).
    for (const l of ls.filter((b) => b.what.startsWith('label'))) expect(l.x1 - l.x0, l.what).toBeLessThanOrEqual(1);
  });

  it.each(figureCases)('%s: reference line labels right of the plot, a label height apart', (_, f) => {
    const scale = yScale(f);
    const right = (f.layout.annotations ?? []).filter((a) => a.xref === 'paper' && a.yref === 'y');
    for (const a of right) {
      expect(a.x).toBe(1);
      expect(a.xanchor).toBe('left');
      expect((f.layout.margin as { r: number }).r).toBeGreaterThanOrEqual(String(a.text).length * CHAR_PX);
    }
    if (!scale) return;
    const ys = right.map((a) => (a.y as number) / scale.unit + (a.yshift ?? 0)).sort((p, q) => p - q);
    for (let i = 1; i < ys.length; i++) expect(ys[i]! - ys[i - 1]!).toBeGreaterThanOrEqual(LABEL_PX);
  });

  it.each(figureCases)('%s: text inside bars reads level, and is left out where it would shrink past 9 px', (_, f) => {
    // plotly turns a label on its side in a bar too narrow for it and shrinks it to fit: the H200
    // accelerate timeline had L15 and L28-L35 sideways, the CPU stream timeline 3 px labels.
    const inside = traces(f).filter((t) => t.type === 'bar' && t.textposition === 'inside' && t.text !== undefined);
    if (inside.length === 0) return;
    for (const t of inside) expect((t as { textangle?: number }).textangle).toBe(0);
    const uniform = (f.layout as { uniformtext?: { mode?: string; minsize?: number } }).uniformtext;
    expect(uniform?.mode).toBe('hide');
    expect(uniform?.minsize).toBeGreaterThanOrEqual(9);
  });

  it.each(figureCases)('%s: no zero line through the markers at x = 0; a log axis ticks 1, 2, 5 x 10^k (or a 1, 2, 5 x 10^k step) in full', (_, f) => {
    // (plotly pads the x range around markers, so a marker at x = 0 has the zero line through it)
    const markerAtZero = traces(f).some((t) => t.type === 'scatter' && String(t.mode).includes('markers') && (t.x ?? []).some((x) => x === 0));
    if (f.layout.xaxis?.type !== 'log' && markerAtZero) expect(f.layout.xaxis?.zeroline).toBe(false);
    const y = f.layout.yaxis;
    if (y?.type !== 'log') return;
    const vals = y.tickvals as number[];
    expect(vals.length).toBeGreaterThanOrEqual(2);
    expect(y.ticktext).toEqual(vals.map((v) => v.toLocaleString('en-US', { maximumFractionDigits: 12 })));
    const mantissa = (v: number) => Number((v / 10 ** Math.floor(Math.log10(v) + 1e-9)).toPrecision(6));
    const step = vals[1]! - vals[0]!;
    const oneTwoFive = vals.every((v) => [1, 2, 5].includes(mantissa(v)));
    const steps = [1, 2, 5].includes(mantissa(step)) && vals.every((v, i) => Math.abs(v - vals[0]! - i * step) < step * 1e-9);
    expect(oneTwoFive || steps).toBe(true);
    const ys = traces(f).flatMap((t) => (t.y ?? []).filter((v): v is number => typeof v === 'number' && v > 0));
    expect(10 ** (y.range as number[])[0]!).toBeLessThanOrEqual(Math.min(...ys)); // every value inside the range
    expect(10 ** (y.range as number[])[1]!).toBeGreaterThanOrEqual(Math.max(...ys));
  });

  it.each(figureCases)('%s: the legend under the x axis title; count axes with integer ticks', (_, f) => {
    if (f.layout.showlegend !== false) expect(f.layout.legend).toMatchObject({ orientation: 'h', yref: 'container', y: 0, yanchor: 'bottom' });
    for (const axis of [f.layout.xaxis, f.layout.yaxis]) {
      const title = (axis?.title as { text?: string } | undefined)?.text ?? '';
      if (!['sessions', 'session', 'layer', 'agents', 'agent', 'batch'].includes(title)) continue;
      if (axis!.type === 'category') {
        for (const c of categories(f)) expect(c).toMatch(/^\d+$/);
      } else if (axis!.tickmode === 'linear') {
        expect(Number.isInteger(axis!.dtick) && (axis!.dtick as number) >= 1).toBe(true);
        expect(axis!.tick0).toBe(0);
      } else {
        expect(axis!.tickvals as number[]).not.toHaveLength(0);
        for (const v of axis!.tickvals as number[]) expect(Number.isInteger(v)).toBe(true);
      }
    }
  });
});

describe('axis titles are the table column titles', () => {
  const axisTitle = (f: Figure, axis: 'xaxis' | 'yaxis') => (f.layout[axis]?.title as { text: string }).text;
  it('decode against sessions: x "sessions", y the per_token_ms header', () => {
    const [f] = figureSet(cpuDecode).figures;
    const table = frameHtml(resultsFrame(cpuDecode));
    expect(axisTitle(f!, 'xaxis')).toBe('sessions');
    expect(axisTitle(f!, 'yaxis')).toBe(columnTitle('per_token_ms'));
    for (const t of [axisTitle(f!, 'xaxis'), axisTitle(f!, 'yaxis')]) expect(table).toContain(`<th>${t}</th>`);
    expect(f!.layout.xaxis).toMatchObject({ tickmode: 'array', tickvals: [1, 2, 4] });
  });

  it.each([
    ['decode.json', 'baseline', 'per token (ms)'],
    ['streaming.json', 'placement', 'effective bandwidth (GB/s)'],
    ['breakpoints.json', 'layer', 'resume (ms), log scale'],
  ])('%s: x %s, y %s', (file, x, y) => {
    const r = readResults(`${BENCH_RESULTS}/${file}`);
    const [f] = figureSet(r).figures;
    expect(axisTitle(f!, 'xaxis')).toBe(x);
    expect(axisTitle(f!, 'yaxis')).toBe(y);
    expect(frameHtml(resultsFrame(r))).toContain(`<th>${x}</th>`);
  });
});

describe('figures left out', () => {
  it('host-to-device bytes per token of a resident model (0 in every row): not drawn, with a note why', () => {
    const { figures, notes } = figureSet(cpuDecode);
    expect(figures.map((f) => (f.layout.title as { text: string }).text.replace(/<br>.*/, ''))).toEqual(['Decode latency per token against sessions sharing the weights']);
    expect(notes).toEqual(['Host-to-device bytes per decoded token: not drawn: h2d_bytes_per_token is 0 in every row (the weights and the KV cache stay on the device)']);
  });

  it('a metric no row measured: the statuses of the rows say why', () => {
    const failed: Results = { ...base, benchmark: 'decode', rows: [{ baseline: 'kv-cache', per_token_ms: null, h2d_bytes_per_token: null, status: 'out_of_memory' }] };
    expect(figureSet(failed)).toEqual({
      figures: [],
      notes: ['Decode latency per token: not drawn: no row measured per_token_ms (out_of_memory)', 'Host-to-device bytes per decoded token: not drawn: no row measured h2d_bytes_per_token (out_of_memory)'],
    });
  });
});
