// agents-figures.ts: the agents measure's figures: P99 step latency against the number of agents per
// system with the out-of-memory points marked (the seed 004's Figure 6), tokens per second against the
// agents, and a timeline of one run of the shared system: which agents reason, act (resident, or paged
// out) and reflect when.
import type { Data } from 'plotly.js-dist-min';
import { columnTitle, timeUnit } from '../columns.js';
import { color, type Figure, type FigureNote, groupBy, layout, lines, measured } from '../figures.js';
import { integerTicks, logAxis } from '../axes.js';
import type { Results, Row } from '../results.js';

const SYSTEMS = ['shared', 'keep-alive', 'serverless'];

function systemIndex(name: string): number {
  const i = SYSTEMS.indexOf(name);
  return i < 0 ? SYSTEMS.length : i;
}

/** Out-of-memory points of each system, drawn as crosses on the x axis (at the smallest y shown). */
function oomMarks(rows: readonly Row[], y: number): Data[] {
  return [...groupBy(rows.filter((r) => r['oom'] === true), (r) => String(r['system']))].map(([system, rs]) => ({
    type: 'scatter',
    mode: 'markers',
    name: `${system}: out of memory`,
    x: rs.map((r) => Number(r['agents'])),
    y: rs.map(() => y),
    marker: { symbol: 'x', size: 13, color: color(systemIndex(system)) },
    hovertemplate: `${system} runs out of memory at %{x} agents<extra></extra>`,
  }));
}

const agentsAxis = (rows: readonly Row[]) => {
  const xs = [...new Set(rows.map((r) => Number(r['agents'])))].sort((a, b) => a - b);
  return { title: { text: columnTitle('agents') }, type: 'log' as const, tickvals: xs, ticktext: xs.map(String) };
};

/** Reason and reflect P99 latency against agents, per system (log scales), OOM points marked. */
export function latencyFigure(r: Results): Figure {
  const ok = r.rows.filter((row) => row['oom'] !== true);
  const data: Data[] = [];
  for (const [metric, label, dash] of [['reason_p99_ms', 'reason P99', 'solid'], ['reflect_p99_ms', 'reflect P99', 'dot']] as const) {
    const got = lines(ok, (row) => `${String(row['system'])} ${label}`, 'agents', metric, 'ms');
    for (const d of got.data) {
      const system = String(d.name).split(' ')[0] ?? '';
      data.push({ ...d, line: { color: color(systemIndex(system)), dash }, marker: { size: 8, color: color(systemIndex(system)) } } as Data);
    }
  }
  const ys = ok.flatMap((row) => [row['reason_p99_ms'], row['reflect_p99_ms']]).filter((v): v is number => typeof v === 'number' && v > 0);
  const bottom = ys.length > 0 ? Math.min(...ys) / 2 : 1;
  data.push(...oomMarks(r.rows, bottom));
  return {
    data,
    layout: layout('P99 step latency against agents (x: out of memory)', r, {
      xaxis: agentsAxis(r.rows),
      yaxis: { title: { text: `${columnTitle('reason_p99_ms')}, ${columnTitle('reflect_p99_ms')}` }, ...logAxis([...ys, bottom]) },
    }),
  };
}

/** Generated tokens per second against agents, per system, under the workload's bound (dashed). */
export function throughputFigure(r: Results): Figure {
  const ok = r.rows.filter((row) => row['oom'] !== true);
  const got = lines(ok, (row) => String(row['system']), 'agents', 'tokens_per_s', 'tokens/s');
  const data = got.data.map((d) => ({ ...d, line: { color: color(systemIndex(String(d.name))) }, marker: { size: 9, color: color(systemIndex(String(d.name))) } }) as Data);
  // The workload's own cap (steps of no time: the acting alone), the same for every system.
  const bound = [...new Map(r.rows.flatMap((row) => (typeof row['tokens_per_s_bound'] === 'number' ? [[Number(row['agents']), row['tokens_per_s_bound']] as const] : []))).entries()].sort((a, b) => a[0] - b[0]);
  if (bound.length > 0) {
    data.push({ type: 'scatter', mode: 'lines', name: 'bound: acting alone', x: bound.map(([n]) => n), y: bound.map(([, v]) => v), line: { color: '#7f7f7f', dash: 'dash' }, hovertemplate: 'at most %{y:.0f} tokens/s at %{x} agents (steps of no time)<extra></extra>' });
  }
  const ys = [...ok.map((row) => row['tokens_per_s']), ...bound.map(([, v]) => v)].filter((v): v is number => typeof v === 'number' && v > 0);
  const bottom = ys.length > 0 ? Math.min(...ys) / 2 : 1;
  data.push(...oomMarks(r.rows, bottom));
  return {
    data,
    layout: layout('Tokens per second against agents', r, { xaxis: agentsAxis(r.rows), yaxis: { title: { text: columnTitle('tokens_per_s') }, ...logAxis([...ys, bottom]) } }),
  };
}

interface AgentTimeline {
  system: string;
  agents: number;
  /** Per agent: [kind (0 reason, 1 act, 2 reflect), start ms, end ms, first token ms]. */
  phases: (number | null)[][][];
  /** [agent, 0 out | 1 in, ms, bytes]. */
  paging: number[][];
}

/** One run: per agent, its reason, act and reflect phases as bars (in ms, or s from a second up); an act during which it was paged out in its own colour. */
export function timelineFigure(r: Results): Figure | null {
  const t = r['agent_timeline'] as AgentTimeline | undefined;
  if (!t || t.phases.every((p) => p.length === 0)) return null;
  const outs = new Map<number, number[]>();
  for (const [agent, kind, at] of t.paging) if (kind === 0 && agent !== undefined && at !== undefined) outs.set(agent, [...(outs.get(agent) ?? []), at]);
  const kinds = [
    { name: 'reason', colour: '#1f77b4' },
    { name: 'act (KV resident)', colour: '#c7c7c7' },
    { name: 'act (KV paged out)', colour: '#ff7f0e' },
    { name: 'reflect', colour: '#2ca02c' },
  ];
  const bars = kinds.map(() => ({ y: [] as number[], base: [] as number[], x: [] as number[] }));
  const { unit, scale } = timeUnit(Math.max(0, ...t.phases.flatMap((p) => p.map((ph) => (typeof ph[2] === 'number' ? ph[2] : 0)))));
  t.phases.forEach((phases, agent) => {
    for (const [kind, start, end] of phases) {
      if (typeof kind !== 'number' || typeof start !== 'number' || typeof end !== 'number') continue;
      const paged = kind === 1 && (outs.get(agent) ?? []).some((at) => at >= start && at <= end);
      const b = bars[kind === 0 ? 0 : kind === 2 ? 3 : paged ? 2 : 1] as (typeof bars)[number];
      b.y.push(agent);
      b.base.push(start / scale);
      b.x.push(Math.max(end - start, 0.5) / scale);
    }
  });
  return {
    data: kinds.map((k, i) => ({ type: 'bar', orientation: 'h', name: k.name, marker: { color: k.colour }, hovertemplate: `agent %{y}: ${k.name} from %{base:.3~f} ${unit} for %{x:.3~f} ${unit}<extra></extra>`, ...bars[i] }) as Data),
    layout: layout(`What each of ${t.agents} agents does over one run (${t.system})`, r, {
      barmode: 'overlay',
      bargap: 0.15,
      xaxis: { title: { text: `${unit} since the run started` } },
      yaxis: { title: { text: 'agent' }, autorange: 'reversed', ...integerTicks(Array.from({ length: t.agents }, (_, k) => k)) },
      height: Math.min(900, 240 + 6 * t.agents),
    }),
  };
}

export function agentsFigures(r: Results, note?: FigureNote): Figure[] {
  const out: Figure[] = [];
  if (measured(r, 'reason_p99_ms', 'P99 step latency against agents', note)) out.push(latencyFigure(r));
  if (measured(r, 'tokens_per_s', 'Tokens per second against agents', note)) out.push(throughputFigure(r));
  const timeline = timelineFigure(r);
  if (timeline) out.push(timeline);
  return out;
}
