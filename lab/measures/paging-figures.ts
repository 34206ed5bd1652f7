// paging-figures.ts: the paging measure's figures. The seed's Figure 6 (logical KV demand and the
// physical VRAM in use against the number of sessions, the budget as a line, what was paged to host
// shaded between them), the same over the time of one run, the bytes moved and the wall time of each
// policy, and a per-session residency timeline (session x time: its blocks on the device or on host).
import type { Data } from 'plotly.js-dist-min';
import { columnTitle } from '../columns.js';
import { barLayout, bars, barTops, type Figure, type FigureNote, fixed, groupBy, hline, layout, measured, missingNote, type Point, points, rowLabel, runsNote, swept, withLines } from '../figures.js';
import { integerTicks } from '../placement.js';
import type { Results, Row } from '../results.js';
import { median } from '../stats.js';

/** What the residency timeline evidence holds per policy: the run with the most sessions. */
export interface ResidencyTimeline {
  sessions: number;
  kv_block_bytes: number;
  pool_blocks: number;
  weight_bytes: number;
  events: number[][];
}

const PARAMETERS = ['budget_bytes', 'host_budget_bytes', 'kv_pool_tokens', 'prompt_tokens', 'new_tokens', 'turns', 'sessions'];
const GB = 1e9;

/** The rows of one policy, in the order of the first one that measured `metric` (next-use first). */
function policyRows(r: Results, metric: string): { policy: string; rows: Row[] } | null {
  for (const [policy, rows] of groupBy(r.rows, (row) => String(row['policy'])))
    if (rows.some((row) => typeof row[metric] === 'number')) return { policy, rows };
  return null;
}

const budgetLine = (r: Results) => (typeof r.budget_bytes === 'number' ? [hline(r.budget_bytes / GB, `budget ${fixed(r.budget_bytes / GB)} GB`, '#444')] : []);

/** Figure 6: logical demand and physical VRAM against sessions, the budget, the paged bytes shaded. */
export function demandFigure(r: Results): Figure | null {
  const got = policyRows(r, 'logical_demand_bytes');
  if (!got) return null;
  const physical = (row: Row) => (typeof row['peak_kv_device_bytes'] === 'number' && typeof r.weight_bytes === 'number' ? r.weight_bytes + row['peak_kv_device_bytes'] : null);
  const medianOf = (rows: Row[], value: (row: Row) => unknown) => {
    const xs = rows.map(value).filter((v): v is number => typeof v === 'number');
    return xs.length > 0 ? median(xs) / GB : null;
  };
  const bySessions = [...groupBy(got.rows, (row) => String(row['sessions']))]
    .map(([n, rows]) => ({ n: Number(n), demand: medianOf(rows, (row) => row['logical_demand_bytes']), physical: medianOf(rows, physical) }))
    .sort((a, b) => a.n - b.n);
  const x = bySessions.map((p) => p.n);
  const data: Data[] = [
    { type: 'scatter', mode: 'lines+markers', name: `physical VRAM (${got.policy}: weights + KV on the device, peak)`, x, y: bySessions.map((p) => p.physical), line: { color: '#1f77b4' } },
    { type: 'scatter', mode: 'lines+markers', name: 'logical demand (weights + every session\'s KV)', x, y: bySessions.map((p) => p.demand), line: { color: '#d62728' }, fill: 'tonexty', fillcolor: 'rgba(214,39,40,0.15)' },
  ];
  return {
    data,
    layout: layout('Memory oversubscription: logical demand against physical VRAM (shaded: paged to host)', r, {
      ...withLines(budgetLine(r)),
      xaxis: { title: { text: columnTitle('sessions') }, ...integerTicks(x) },
      yaxis: { title: { text: 'GB' }, rangemode: 'tozero' },
    }),
  };
}

/** The same over the time of the run with the most sessions: the pool in use and the host store after each record. */
export function memoryTimeFigure(r: Results): Figure | null {
  const timelines = r['residency'] as Record<string, ResidencyTimeline> | undefined;
  if (!timelines) return null;
  const data: Data[] = [];
  let i = 0;
  for (const [policy, t] of Object.entries(timelines)) {
    if (t.events.length === 0) continue;
    const x = t.events.map((e) => e[0] as number);
    const dash = ['solid', 'dot', 'dash', 'longdash'][i % 4] as 'solid';
    data.push({ type: 'scatter', mode: 'lines', name: `${policy}: physical VRAM`, x, y: t.events.map((e) => (t.weight_bytes + (e[4] as number) * t.kv_block_bytes) / GB), line: { color: '#1f77b4', dash, shape: 'hv' } });
    data.push({ type: 'scatter', mode: 'lines', name: `${policy}: logical demand`, x, y: t.events.map((e) => (t.weight_bytes + ((e[4] as number) + (e[5] as number)) * t.kv_block_bytes) / GB), line: { color: '#d62728', dash, shape: 'hv' } });
    i++;
  }
  if (data.length === 0) return null;
  const n = Math.max(...Object.values(timelines).map((t) => t.sessions));
  return {
    data,
    layout: layout(`Memory over one run of ${n} sessions: the KV pool in use against the demand (what the host holds is the gap)`, r, {
      ...withLines(budgetLine(r)),
      xaxis: { title: { text: 'ms since the first paging record' } },
      yaxis: { title: { text: 'GB' }, rangemode: 'tozero' },
    }),
  };
}

/** Bytes paged out and in per policy, stacked; one label per stack above it. */
export function bytesMovedFigure(r: Results): Figure {
  const fields = swept(r.rows, PARAMETERS);
  const groups = groupBy(r.rows, (row) => rowLabel(row, String(row['policy']), fields));
  const [out, into] = (['paged_out_bytes', 'paged_in_bytes'] as const).map((metric) => points(groups, metric).points.map((p) => ({ ...p, median: p.median / GB, min: p.min / GB, max: p.max / GB })));
  const data: Data[] = [
    { ...bars('paged out (device to host)', out as Point[]), marker: { color: '#ff7f0e' } },
    { ...bars('paged in (host to device)', into as Point[]), marker: { color: '#1f77b4' } },
  ];
  const inOf = new Map((into as Point[]).map((p) => [p.name, p.median]));
  const tops = (out as Point[]).map((p) => ({ x: p.name, top: p.median + (inOf.get(p.name) ?? 0), label: `${fixed(p.median, 2)} GB out, ${fixed(inOf.get(p.name) ?? 0, 2)} GB in` }));
  const placed = barLayout(tops);
  const { missing } = points(groups, 'paged_out_bytes');
  return {
    data,
    layout: layout('KV bytes moved per paging policy', r, {
      barmode: 'stack',
      annotations: placed.annotations,
      xaxis: { title: { text: columnTitle('policy') } },
      yaxis: { title: { text: `${columnTitle('paged_out_bytes')} + ${columnTitle('paged_in_bytes', 'GB')}` }, range: placed.range },
    }, [missingNote(missing)]),
  };
}

/** Wall time per policy, with the compute-only time and the bound (max of compute and the copies at the link's speed) marked. */
export function wallFigure(r: Results): Figure {
  const fields = swept(r.rows, PARAMETERS);
  const groups = groupBy(r.rows, (row) => rowLabel(row, String(row['policy']), fields, '<br>'));
  const medianOf = (metric: string) => new Map([...groups].map(([name, rows]) => [name, points(new Map([[name, rows]]), metric).points[0]?.median ?? null]));
  const seconds = (m: Map<string, number | null>) => new Map([...m].map(([k, v]) => [k, v === null ? null : v / 1e3]));
  const { points: ms, missing } = points(groups, 'wall_ms');
  const ps = ms.map((p) => ({ ...p, median: p.median / 1e3, min: p.min / 1e3, max: p.max / 1e3 }));
  const bound = seconds(medianOf('bound_ms'));
  const compute = seconds(medianOf('compute_only_ms'));
  const marks = (name: string, of: Map<string, number | null>, symbol: string, colour: string): Data => ({
    type: 'scatter',
    mode: 'markers',
    name,
    x: ps.filter((p) => of.get(p.name) !== null).map((p) => p.name),
    y: ps.filter((p) => of.get(p.name) !== null).map((p) => of.get(p.name) as number),
    marker: { symbol: symbol as 'diamond-open', size: 14, color: colour },
  });
  const markAt = (of: Map<string, number | null>) => ps.flatMap((p) => (of.get(p.name) == null ? [] : [{ x: p.name, y: of.get(p.name) as number, sizePx: 14 }]));
  const placed = barLayout(
    barTops(ps, (p) => {
      const b = bound.get(p.name);
      return b ? `${fixed(p.median, 2)} s (${fixed(p.median / b, 2)}x bound)` : `${fixed(p.median, 2)} s`;
    }),
    [],
    [...markAt(compute), ...markAt(bound)],
  );
  const data: Data[] = [
    bars('wall time', ps),
    marks('compute only (everything resident, full card)', compute, 'line-ew-open', '#2ca02c'),
    marks('bound: max(compute, bytes moved / pinned both-ways bandwidth)', bound, 'diamond-open', '#444'),
  ];
  return {
    data,
    layout: layout('Wall time per paging policy', r, {
      annotations: placed.annotations,
      xaxis: { title: { text: columnTitle('policy') } },
      yaxis: { title: { text: 'wall (s)' }, range: placed.range },
    }, [runsNote(ps), missingNote(missing)]),
  };
}

/** Session x time: the fraction of each session's blocks on the device (1) or on host (0), for one policy. */
export function residencyFigure(r: Results): Figure | null {
  const timelines = r['residency'] as Record<string, ResidencyTimeline> | undefined;
  const entry = timelines && (Object.entries(timelines).find(([p, t]) => p === 'next-use' && t.events.length > 0) ?? Object.entries(timelines).find(([, t]) => t.events.length > 0));
  if (!entry) return null;
  const [policy, t] = entry;
  const end = Math.max(...t.events.map((e) => e[0] as number));
  const bins = 200;
  const width = end > 0 ? end / bins : 1;
  // z[session][bin]: the state after the session's last record at or before the bin's end; null before its first.
  const z: (number | null)[][] = Array.from({ length: t.sessions }, () => new Array<number | null>(bins).fill(null));
  const state: (number | null)[] = new Array<number | null>(t.sessions).fill(null);
  let next = 0;
  for (let b = 0; b < bins; b++) {
    const until = (b + 1) * width;
    for (; next < t.events.length && (t.events[next]?.[0] as number) <= until; next++) {
      const [, k, dev, host] = t.events[next] as number[];
      if (k === undefined || k < 0 || dev === undefined || host === undefined) continue;
      state[k] = dev + host > 0 ? dev / (dev + host) : null;
    }
    for (let k = 0; k < t.sessions; k++) (z[k] as (number | null)[])[b] = state[k] as number | null;
  }
  return {
    data: [
      {
        type: 'heatmap',
        x: Array.from({ length: bins }, (_, b) => (b + 0.5) * width),
        y: Array.from({ length: t.sessions }, (_, k) => k),
        z,
        zmin: 0,
        zmax: 1,
        colorscale: [[0, '#ff7f0e'], [1, '#1f77b4']],
        colorbar: { title: { text: 'on device' }, tickvals: [0, 1], ticktext: ['host', 'device'] },
        hovertemplate: 'session %{y}, %{x:.0f} ms: %{z:.2f} of its blocks on the device<extra></extra>',
      },
    ],
    layout: layout(`Where each session's KV lives over the run (${policy}, ${t.sessions} sessions)`, r, {
      xaxis: { title: { text: 'ms since the first paging record' } },
      yaxis: { title: { text: 'session' }, autorange: 'reversed', ...integerTicks(Array.from({ length: t.sessions }, (_, k) => k)) },
      showlegend: false,
    }),
  };
}

export function pagingFigures(r: Results, note?: FigureNote): Figure[] {
  const out: Figure[] = [];
  if (swept(r.rows, ['sessions']).length > 0) {
    const demand = demandFigure(r);
    if (demand) out.push(demand);
  }
  const time = memoryTimeFigure(r);
  if (time) out.push(time);
  if (measured(r, 'paged_out_bytes', 'KV bytes moved per paging policy', note, 'the KV pool held every session')) out.push(bytesMovedFigure(r));
  if (measured(r, 'wall_ms', 'Wall time per paging policy', note)) out.push(wallFigure(r));
  const residency = residencyFigure(r);
  if (residency) out.push(residency);
  return out;
}
