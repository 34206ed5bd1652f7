// paging-figures.ts: the paging measure's figures. The seed's Figure 6 (logical KV demand and the
// physical VRAM in use against the number of sessions, the budget as a line, what was paged to host
// shaded between them), the same over the time of one run, the bytes moved and the wall time of each
// policy, and a per-session residency timeline (session x time: its blocks on the device or on host).
// Sizes are in the unit their largest value (or the budget) reads best in, times in ms or s.
import type { Data } from 'plotly.js-dist-min';
import { integerTicks, linearRange } from '../axes.js';
import { columnTitle, numberFormat, sizeUnit, timeUnit } from '../columns.js';
import { barLayout, bars, barTops, type Figure, type FigureNote, fixed, groupBy, hline, inUnit, layout, measured, missingNote, points, rowLabel, runsNote, swept, withLines } from '../figures.js';
import { plotHeightPx } from '../placement.js';
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

/** The rows of one policy, in the order of the first one that measured `metric` (next-use first). */
function policyRows(r: Results, metric: string): { policy: string; rows: Row[] } | null {
  for (const [policy, rows] of groupBy(r.rows, (row) => String(row['policy'])))
    if (rows.some((row) => typeof row[metric] === 'number')) return { policy, rows };
  return null;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/**
 * What a run's device holds besides its KV pool: the weights, the step workspace and the small
 * buffers (its peak VRAM less the pool); the weights alone for rows without a peak.
 */
function besidesKv(r: Results, row: Row | undefined): number {
  const peak = num(row?.['peak_vram_bytes']);
  const pool = num(row?.['kv_pool_bytes']);
  return peak !== null && pool !== null ? peak - pool : (r.weight_bytes ?? 0);
}

/**
 * A memory figure's y axis: in the size unit of its largest value (the budget included), over a
 * range that holds every value and the budget, the budget a line labelled in that unit.
 */
function memoryAxis(r: Results, bytes: readonly number[]): { scale: number; unit: string; range: [number, number]; lines: ReturnType<typeof withLines> } {
  const budget = num(r.budget_bytes);
  const all = budget === null ? bytes : [...bytes, budget];
  const { unit, scale } = sizeUnit(Math.max(0, ...all));
  const range = linearRange(all.map((b) => b / scale));
  const text = numberFormat(Math.max(...all) / scale);
  const refs = budget === null ? [] : [hline(budget / scale, `budget ${text(budget / scale)} ${unit}`, '#444')];
  return { scale, unit, range, lines: withLines(refs, (range[1] - range[0]) / plotHeightPx()) };
}

/**
 * Figure 6: logical demand and physical VRAM against sessions, the budget, the paged bytes shaded.
 * Both count what the device holds besides the KV (weights, step workspace), so that the demand
 * crosses the budget where the sessions' KV no longer fits what the budget leaves for it.
 */
export function demandFigure(r: Results): Figure | null {
  const got = policyRows(r, 'logical_demand_bytes');
  if (!got) return null;
  const weights = r.weight_bytes ?? 0;
  const medianOf = (rows: Row[], value: (row: Row) => number | null) => {
    const xs = rows.map(value).filter((v): v is number => v !== null);
    return xs.length > 0 ? median(xs) : null;
  };
  const kv = (row: Row, field: string) => (num(row[field]) === null ? null : besidesKv(r, row) + (row[field] as number));
  const bySessions = [...groupBy(got.rows, (row) => String(row['sessions']))]
    .map(([n, rows]) => ({ n: Number(n), demand: medianOf(rows, (row) => (num(row['logical_demand_bytes']) === null ? null : besidesKv(r, row) + (row['logical_demand_bytes'] as number) - weights)), physical: medianOf(rows, (row) => kv(row, 'peak_kv_device_bytes')) }))
    .sort((a, b) => a.n - b.n);
  const x = bySessions.map((p) => p.n);
  const axis = memoryAxis(r, bySessions.flatMap((p) => [p.demand, p.physical]).filter((v): v is number => v !== null));
  const inUnits = (v: number | null) => (v === null ? null : v / axis.scale);
  const data: Data[] = [
    { type: 'scatter', mode: 'lines+markers', name: `physical VRAM (${got.policy}: weights, workspace and the KV on the device, peak)`, x, y: bySessions.map((p) => inUnits(p.physical)), line: { color: '#1f77b4' } },
    { type: 'scatter', mode: 'lines+markers', name: 'logical demand (the same with every session\'s KV)', x, y: bySessions.map((p) => inUnits(p.demand)), line: { color: '#d62728' }, fill: 'tonexty', fillcolor: 'rgba(214,39,40,0.15)' },
  ];
  return {
    data,
    layout: layout('Memory oversubscription: logical demand against physical VRAM (shaded: paged to host)', r, {
      ...axis.lines,
      xaxis: { title: { text: columnTitle('sessions') }, ...integerTicks(x) },
      yaxis: { title: { text: axis.unit }, range: axis.range },
    }),
  };
}

/** The same over the time of the run with the most sessions: the pool in use and the host store after each record. */
export function memoryTimeFigure(r: Results): Figure | null {
  const timelines = Object.entries((r['residency'] as Record<string, ResidencyTimeline> | undefined) ?? {}).filter(([, t]) => t.events.length > 0);
  if (timelines.length === 0) return null;
  const series = timelines.map(([policy, t]) => {
    const base = besidesKv(r, r.rows.find((row) => row['policy'] === policy && row['sessions'] === t.sessions));
    return {
      policy,
      x: t.events.map((e) => e[0] as number),
      physical: t.events.map((e) => base + (e[4] as number) * t.kv_block_bytes),
      demand: t.events.map((e) => base + ((e[4] as number) + (e[5] as number)) * t.kv_block_bytes),
    };
  });
  const axis = memoryAxis(r, series.flatMap((s) => [...s.physical, ...s.demand]));
  const end = Math.max(0, ...series.flatMap((s) => s.x));
  const time = timeUnit(end);
  const data: Data[] = series.flatMap((s, i) => {
    const dash = ['solid', 'dot', 'dash', 'longdash'][i % 4] as 'solid';
    return [
      { type: 'scatter', mode: 'lines', name: `${s.policy}: physical VRAM`, x: s.x.map((ms) => ms / time.scale), y: s.physical.map((b) => b / axis.scale), line: { color: '#1f77b4', dash, shape: 'hv' } },
      { type: 'scatter', mode: 'lines', name: `${s.policy}: logical demand`, x: s.x.map((ms) => ms / time.scale), y: s.demand.map((b) => b / axis.scale), line: { color: '#d62728', dash, shape: 'hv' } },
    ] as Data[];
  });
  const n = Math.max(...timelines.map(([, t]) => t.sessions));
  return {
    data,
    layout: layout(`Memory over one run of ${n} sessions: the KV pool in use against the demand (what the host holds is the gap)`, r, {
      ...axis.lines,
      // From just before 0, so that its 0 clears the y axis's lowest tick.
      xaxis: { title: { text: `${time.unit} since the first paging record` }, range: [-0.02 * (end / time.scale), 1.02 * (end / time.scale)] },
      yaxis: { title: { text: axis.unit }, range: axis.range },
    }),
  };
}

/**
 * A note naming the rows that moved nothing, in few words: the policies that moved nothing at any
 * point, then the points where the others moved nothing ("nothing moved: recompute, no-paging;
 * next-use, lru at sessions=2").
 */
function nothingMoved(rows: readonly Row[], still: readonly Row[], fields: readonly string[]): string {
  const policy = (row: Row) => String(row['policy']);
  const never = [...groupBy(rows, policy)].filter(([, rs]) => rs.every((row) => still.includes(row))).map(([p]) => p);
  const atPoints = [...groupBy(still.filter((row) => !never.includes(policy(row))), (row) => rowLabel(row, '', fields).trim())].map(([at, rs]) => `${[...new Set(rs.map(policy))].join(', ')} at ${at}`);
  const parts = [never.join(', '), ...atPoints].filter(Boolean);
  return parts.length > 0 ? `nothing moved: ${parts.join('; ')}` : '';
}

/**
 * Bytes paged out and in per policy and point, stacked, one label per stack above it, in one size
 * unit; the policies and points that moved nothing (recompute, no-paging, a pool that held every
 * session) are named in a note instead of drawn as empty slots.
 */
export function bytesMovedFigure(r: Results): Figure {
  const fields = swept(r.rows, PARAMETERS);
  const all = groupBy(r.rows, (row) => rowLabel(row, String(row['policy']), fields, '<br>'));
  const movedAny = (rows: Row[]) => rows.some((row) => (num(row['paged_out_bytes']) ?? 0) + (num(row['paged_in_bytes']) ?? 0) > 0);
  const groups = new Map([...all].filter(([, rows]) => movedAny(rows)));
  const still = r.rows.filter((row) => num(row['paged_out_bytes']) !== null && !groups.has(rowLabel(row, String(row['policy']), fields, '<br>')));
  const [out, into] = (['paged_out_bytes', 'paged_in_bytes'] as const).map((metric) => points(groups, metric).points);
  const inOf = new Map((into ?? []).map((p) => [p.name, p.median]));
  const { unit, scale } = sizeUnit(Math.max(0, ...(out ?? []).map((p) => p.median + (inOf.get(p.name) ?? 0))));
  const text = numberFormat(Math.max(0, ...(out ?? []).map((p) => p.median), ...(into ?? []).map((p) => p.median)) / scale);
  const data: Data[] = [
    { ...bars('paged out (device to host)', inUnit(out ?? [], scale)), marker: { color: '#ff7f0e' } },
    { ...bars('paged in (host to device)', inUnit(into ?? [], scale)), marker: { color: '#1f77b4' } },
  ];
  const tops = (out ?? []).map((p) => ({ x: p.name, top: (p.median + (inOf.get(p.name) ?? 0)) / scale, label: [`${text(p.median / scale)} ${unit} out,`, `${text((inOf.get(p.name) ?? 0) / scale)} ${unit} in`] }));
  const placed = barLayout(tops);
  const { missing } = points(groups, 'paged_out_bytes');
  return {
    data,
    layout: layout('KV bytes moved per paging policy', r, {
      barmode: 'stack',
      annotations: placed.annotations,
      xaxis: { title: { text: columnTitle('policy') }, type: 'category', categoryorder: 'array', categoryarray: (out ?? []).map((p) => p.name) },
      yaxis: { title: { text: `${columnTitle('paged_out_bytes')} + ${columnTitle('paged_in_bytes', unit)}` }, range: placed.range },
    }, [nothingMoved(r.rows, still, fields), missingNote(missing)]),
  };
}

/** Wall time per policy, with the compute-only time and the bound (max of compute and the copies at the link's speed) marked; in ms or s. */
export function wallFigure(r: Results): Figure {
  const fields = swept(r.rows, PARAMETERS);
  const groups = groupBy(r.rows, (row) => rowLabel(row, String(row['policy']), fields, '<br>'));
  const medianOf = (metric: string) => new Map([...groups].map(([name, rows]) => [name, points(new Map([[name, rows]]), metric).points[0]?.median ?? null]));
  const { points: ms, missing } = points(groups, 'wall_ms');
  const { unit, scale } = timeUnit(Math.max(0, ...ms.map((p) => p.max)));
  const inUnits = (m: Map<string, number | null>) => new Map([...m].map(([k, v]) => [k, v === null ? null : v / scale]));
  const ps = inUnit(ms, scale);
  const bound = inUnits(medianOf('bound_ms'));
  const compute = inUnits(medianOf('compute_only_ms'));
  const marks = (name: string, of: Map<string, number | null>, symbol: string, colour: string): Data => ({
    type: 'scatter',
    mode: 'markers',
    name,
    x: ps.filter((p) => of.get(p.name) !== null).map((p) => p.name),
    y: ps.filter((p) => of.get(p.name) !== null).map((p) => of.get(p.name) as number),
    marker: { symbol: symbol as 'diamond-open', size: 14, color: colour },
  });
  const markAt = (of: Map<string, number | null>) => ps.flatMap((p) => (of.get(p.name) == null ? [] : [{ x: p.name, y: of.get(p.name) as number, sizePx: 14 }]));
  const text = numberFormat(Math.max(0, ...ps.map((p) => p.median)));
  const placed = barLayout(
    barTops(ps, (p) => {
      const b = bound.get(p.name);
      return b ? [`${text(p.median)} ${unit}`, `(${fixed(p.median / b, 2)}x bound)`] : `${text(p.median)} ${unit}`;
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
      xaxis: { title: { text: columnTitle('policy') }, type: 'category', categoryorder: 'array', categoryarray: ps.map((p) => p.name) },
      yaxis: { title: { text: `wall (${unit})` }, range: placed.range },
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
  const { unit, scale } = timeUnit(end);
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
        x: Array.from({ length: bins }, (_, b) => ((b + 0.5) * width) / scale),
        y: Array.from({ length: t.sessions }, (_, k) => k),
        z,
        zmin: 0,
        zmax: 1,
        colorscale: [[0, '#ff7f0e'], [1, '#1f77b4']],
        colorbar: { tickvals: [0, 1], ticktext: ['on host', 'on device'] },
        hovertemplate: `session %{y}, %{x:.3~f} ${unit}: %{z:.2f} of its blocks on the device<extra></extra>`,
      },
    ],
    layout: layout(`Where each session's KV lives over the run (${policy}, ${t.sessions} sessions)`, r, {
      xaxis: { title: { text: `${unit} since the first paging record` } },
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
