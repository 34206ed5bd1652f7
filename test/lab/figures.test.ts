// Figures from results: the traces carry the rows' numbers, the reference lines the run's evidence,
// and every figure's title names the device, commit and model.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  bandwidthFigure,
  copyBandwidthFigure,
  decodeFigure,
  evidence,
  type Figure,
  figureHtml,
  figuresFor,
  layout,
  overlapMs,
  plotlyScript,
  readResults,
  type Results,
  resumeFigure,
  steeringFigure,
  timeline,
  type TimelineEntry,
  timelineFigure,
  vramFigure,
  wrapText,
} from '../../lab/index.js';
import { VramlabError } from '../../runtime/index.js';
import { BENCH_RESULTS, breakpointsResults, cpuStreamingResults } from '../results-fixtures.js';

type Trace = Record<string, unknown> & { x: unknown[]; y: unknown[] };
const traces = (f: Figure) => f.data as unknown as Trace[];
const titleOf = (f: Figure) => (f.layout.title as { text: string }).text;

let streaming: Results;
beforeAll(async () => {
  streaming = await cpuStreamingResults();
});

describe('evidence', () => {
  it('names the device, driver, commit, model, budget, date and the worst logit error', () => {
    const r: Results = {
      benchmark: 'streaming', device: 'H100', driver: '580', commit: 'beb3dda0b74b', date: '2026-11-22T22:40:15Z', model: 'synthetic:llama-70b', weight_bytes: 35274768384,
      budget_bytes: 12e9, rows: [{ logit_rel_err: 1e-6 }, { logit_rel_err: 3e-4 }, { logit_rel_err: null }],
    };
    expect(evidence(r)).toBe('H100 · driver 580 · commit beb3dda · synthetic:llama-70b (35.3 GB of weights) · budget 12.0 GB · 2026-11-22 · logit rel. error vs resident ≤ 3.0e-4');
  });

  it('says so when the logits were identical', () => {
    expect(evidence({ benchmark: 'x', device: 'd', commit: 'c', rows: [{ logit_rel_err: 0 }] })).toContain('logits identical to the resident run');
  });
});

describe('streaming figures (measured on the CPU backend)', () => {
  it('bandwidth: one bar per placement with the measured bandwidth, and the pinned and pageable lines', () => {
    const f = bandwidthFigure(streaming);
    const [bars] = traces(f);
    expect(bars!['type']).toBe('bar');
    expect(bars!.x).toEqual(streaming.rows.map((r) => r['placement']));
    expect(bars!.y).toEqual(streaming.rows.map((r) => r['effective_bandwidth_gbps']));
    // The lines within 10x the tallest bar are drawn; one further up is named in a note instead (it would flatten the bars).
    const tallest = Math.max(...(bars!.y as number[]));
    const lines = [['pinned H2D', streaming['pinned_h2d_gbps']], ['pageable H2D', streaming['pageable_h2d_gbps']]] as [string, number][];
    expect(f.layout.shapes!.map((s) => s.y0)).toEqual(lines.filter(([, v]) => v <= 10 * tallest).map(([, v]) => v));
    const far = lines.filter(([, v]) => v > 10 * tallest).map(([name]) => name);
    const notes = String(f.layout.annotations!.at(-1)!.text);
    for (const name of far) expect(notes).toMatch(new RegExp(`off the axis, over 10x the tallest bar: .*${name} [\\d.]+ GB/s`));
    expect(titleOf(f)).toContain(streaming.device);
    expect(titleOf(f)).toContain(streaming.model);
  });

  it('timeline: a copy bar per streamed layer and a compute bar per layer, spanning the measured times', () => {
    for (const placement of ['stream', 'auto']) {
      const t = timeline(streaming, placement, 'prefill');
      const [copy, compute] = traces(timelineFigure(streaming, placement));
      const streamed = t.filter((e) => e.copyStartMs !== null);
      const resident = streaming.rows.find((r) => r['placement'] === placement)!['resident_layers'] as number;
      expect(streamed.map((e) => e.layer)).toEqual(t.slice(resident).map((e) => e.layer));
      expect(copy!['base']).toEqual(streamed.map((e) => e.copyStartMs));
      expect(copy!.x).toEqual(streamed.map((e) => (e.copyEndMs as number) - (e.copyStartMs as number)));
      expect(compute!['base']).toEqual(t.map((e) => e.computeStartMs));
      expect(compute!.x.length).toBe(6);
    }
  });

  it('timeline: stream-sync never computes while a copy runs (the ablation of the prefetch)', () => {
    expect(overlapMs(timeline(streaming, 'stream-sync', 'prefill'))).toBe(0);
    const f = timelineFigure(streaming, 'stream-sync');
    expect(JSON.stringify(f.layout.annotations)).toContain('compute overlapped with copies 0.00 of');
  });

  it('timeline: a placement without one is a clear error', () => {
    expect(() => timelineFigure(streaming, 'resident')).toThrow(VramlabError);
    expect(() => timelineFigure(streaming, 'resident')).toThrow('no prefill timeline for placement "resident"');
  });

  it('peak VRAM: one bar per placement, each under the budget line, in MB for a budget under 1 GB', () => {
    const f = vramFigure(streaming);
    const [bars] = traces(f);
    expect(f.layout.yaxis!.title).toEqual({ text: 'peak VRAM (MB)' });
    expect(bars!.y).toEqual(streaming.rows.map((r) => (r['peak_vram_gb'] as number) * 1e3));
    const budget = f.layout.shapes![0]!.y0 as number;
    expect(budget).toBe((streaming['budget_bytes'] as number) / 1e6);
    for (const y of bars!.y as number[]) expect(y).toBeLessThanOrEqual(budget);
    const h100 = vramFigure({ ...streaming, rows: streaming.rows.map((r) => ({ ...r, peak_vram_gb: 11.5 })), budget_bytes: 12e9, resident_reference: { peak_vram_gb: 35.5 } });
    expect(h100.layout.yaxis!.title).toEqual({ text: 'peak VRAM (GB)' });
    expect(h100.layout.shapes!.map((s) => s.y0)).toEqual([12, 35.5]);
    expect(h100.layout.annotations!.filter((a) => a.xref === 'paper' && a.x === 1).map((a) => a.text)).toEqual(['budget 12.0 GB', 'resident, no budget: 35.5 GB']);
    // A resident run 20 times the bars: named in a note, not drawn (the bars would be flat under it).
    const far = vramFigure({ ...streaming, resident_reference: { peak_vram_gb: 0.1 } });
    expect(far.layout.shapes!.map((s) => s.y0)).toEqual([budget]);
    expect(String(far.layout.annotations!.at(-1)!.text)).toContain('off the axis, over 10x the tallest bar: resident, no budget: 100 MB');
  });

  it('figuresFor: bandwidth, a timeline per placement that copies, and VRAM', () => {
    expect(figuresFor(streaming).map(titleOf).map((t) => t.replace(/<br>.*/, ''))).toEqual([
      'Effective bandwidth per placement',
      'Per-layer copy and compute, stream, prefill pass',
      'Per-layer copy and compute, stream-sync, prefill pass',
      'Per-layer copy and compute, accelerate, prefill pass',
      'Per-layer copy and compute, auto, prefill pass',
      'Peak VRAM per placement',
    ]);
  });
});

describe('overlapMs', () => {
  const e = (layer: number, copy: [number, number] | null, compute: [number, number]): TimelineEntry => ({
    layer, copyStartMs: copy?.[0] ?? null, copyEndMs: copy?.[1] ?? null, computeStartMs: compute[0], computeEndMs: compute[1],
  });
  it('adds the time each compute interval shares with any copy interval', () => {
    expect(overlapMs([e(0, [0, 2], [2, 5]), e(1, [2, 4], [5, 6])])).toBe(2); // copy 1 under compute 0
    expect(overlapMs([e(0, [0, 2], [2, 3]), e(1, [3, 4], [4, 5])])).toBe(0);
    expect(overlapMs([e(0, null, [0, 1]), e(1, [0.5, 3], [3, 4])])).toBe(0.5);
  });
});

describe('decode figure (bench/results/decode.json, measured on the H200)', () => {
  const r = readResults(`${BENCH_RESULTS}/decode.json`);
  it('bars per baseline and the HBM floor line, with how far each is above it', () => {
    const f = decodeFigure(r);
    const [bars] = traces(f);
    expect(bars!.x).toEqual(r.rows.map((row) => row['baseline']));
    expect(bars!.y).toEqual(r.rows.map((row) => row['per_token_ms']));
    expect(f.layout.shapes![0]!.y0).toBe(r['hbm_floor_ms']);
    const ratio = (r.rows[0]!['per_token_ms'] as number) / (r['hbm_floor_ms'] as number);
    const labels = (f.layout.annotations ?? []).map((a) => a.text);
    expect(labels[0]).toContain(`${ratio.toFixed(2)}x floor`);
    expect(labels).toContain(`HBM floor ${(r['hbm_floor_ms'] as number).toFixed(2)} ms`);
    expect(titleOf(f)).toContain('NVIDIA H200');
    expect(titleOf(f)).toContain(`commit ${r.commit.slice(0, 7)}`);
  });
});

describe('GPU results (bench/results/streaming.json and breakpoints.json, measured on the H200)', () => {
  it('streaming: a bar per placement, HF Accelerate included, and the stream timeline overlaps copy and compute', () => {
    const r = readResults(`${BENCH_RESULTS}/streaming.json`);
    const [bars] = traces(bandwidthFigure(r));
    expect(bars!.x).toEqual(['hf-accelerate', 'stream', 'stream-sync', 'accelerate', 'auto']);
    expect(bars!.y).toEqual(r.rows.map((row) => row['effective_bandwidth_gbps']));
    const t = timeline(r, 'stream', 'prefill');
    expect(t).toHaveLength(36);
    expect(overlapMs(t)).toBeGreaterThan(0);
    expect(titleOf(bandwidthFigure(r))).toContain('NVIDIA H200');
  });

  it('breakpoints: a resume-latency line per baseline over the seed\'s depths', () => {
    const r = readResults(`${BENCH_RESULTS}/breakpoints.json`);
    const lines = traces(resumeFigure(r));
    expect(lines.map((l) => l['name']).sort()).toEqual(['offload', 'recompute', 'resume']);
    for (const l of lines) expect(l.x).toEqual([1, 10, 20, 30, 39]);
  });
});

describe('resume figure (issue 5 shape)', () => {
  it('one line per baseline over the breakpoint layers, in layer order', () => {
    const r = breakpointsResults();
    r.rows.reverse();
    const f = resumeFigure(r);
    const lines = traces(f);
    expect(lines.map((l) => l['name'])).toEqual(['offload', 'recompute', 'resume']);
    for (const l of lines) {
      expect(l.x).toEqual([1, 10, 20, 30, 39]);
      const rows = r.rows.filter((row) => row['baseline'] === l['name']).sort((a, b) => (a['layer'] as number) - (b['layer'] as number));
      expect(l.y).toEqual(rows.map((row) => row['resume_ms']));
    }
    expect(JSON.stringify(f.layout.annotations)).toContain('pause overhead 0.050 ms');
    expect(JSON.stringify(f.layout.annotations)).toContain('device gap per pause 0.040 ms');
    expect(f.layout.yaxis!.type).toBeUndefined();
  });

  it('uses a log axis when the baselines are orders of magnitude apart', () => {
    const r = breakpointsResults();
    for (const row of r.rows) if (row['baseline'] === 'resume') row['resume_ms'] = 0.003;
    expect(resumeFigure(r).layout.yaxis!.type).toBe('log');
  });
});

describe('results of experiment runs: repeats, failed runs, sweeps', () => {
  const run = (rows: Results['rows'], benchmark: string): Results => ({ benchmark, device: 'cpu', commit: 'abcdef0123', rows, check: { what: 'logits', tolerance: 1e-4, pass: true, worst: 2e-6 } });

  it('plots the median of repeated runs with an error bar from min to max', () => {
    const r = run([
      { placement: 'stream', run_id: 0, effective_bandwidth_gbps: 10, peak_vram_gb: 1, status: 'ok' },
      { placement: 'stream', run_id: 1, effective_bandwidth_gbps: 14, peak_vram_gb: 1, status: 'ok' },
      { placement: 'stream', run_id: 2, effective_bandwidth_gbps: 11, peak_vram_gb: 1, status: 'ok' },
      { placement: 'accelerate', run_id: 0, effective_bandwidth_gbps: 3, peak_vram_gb: 1, status: 'ok' },
      { placement: 'accelerate', run_id: 1, effective_bandwidth_gbps: 4, peak_vram_gb: 1, status: 'ok' },
    ], 'streaming');
    const f = bandwidthFigure(r);
    const [bars] = traces(f);
    expect(bars!.x).toEqual(['stream', 'accelerate']);
    expect(bars!.y).toEqual([11, 3.5]);
    expect(bars!['error_y']).toMatchObject({ array: [3, 0.5], arrayminus: [1, 0.5] });
    expect(JSON.stringify(f.layout.annotations)).toContain('median of 3 runs');
    expect(titleOf(f)).toContain('check passed: worst error 2.0e-6');
  });

  it('names the runs that failed instead of drawing them, and draws no figure when none was measured', () => {
    const r = run([
      { placement: 'resident', ring_bytes: null, run_id: null, effective_bandwidth_gbps: null, peak_vram_gb: null, status: 'out_of_memory' },
      { placement: 'stream', ring_bytes: 1e6, run_id: 0, effective_bandwidth_gbps: 10, peak_vram_gb: 1, status: 'ok' },
    ], 'streaming');
    const f = bandwidthFigure(r);
    expect(traces(f)[0]!.x).toEqual(['stream']);
    expect(JSON.stringify(f.layout.annotations)).toContain('not measured: resident (out_of_memory)');
    expect(traces(vramFigure(r))[0]!.x).toEqual(['stream']);
    const failed = run([{ baseline: 'resume', layer: 1, resume_ms: null, status: 'error: no breakpoints' }], 'breakpoints');
    expect(figuresFor(failed)).toEqual([]);
  });

  it('labels swept parameters, and draws lines against a swept size or layer', () => {
    const streamingSweep = run([1e9, 2e9].flatMap((ring) => [{ placement: 'stream', ring_bytes: ring, prefetch: 1, effective_bandwidth_gbps: ring / 1e8, status: 'ok' }]), 'streaming');
    expect(traces(bandwidthFigure(streamingSweep))[0]!.x).toEqual(['stream<br>ring=1.0 GB', 'stream<br>ring=2.0 GB']);

    const copies = run(['pinned', 'pageable'].flatMap((baseline) => [4e6, 1e6].map((bytes) => ({ baseline, bytes, copies: 2, bandwidth_gbps: bytes / 1e6 + (baseline === 'pinned' ? 10 : 0), status: 'ok' }))), 'copy_bandwidth');
    const [pinned, pageable] = traces(copyBandwidthFigure(copies));
    expect(pinned!['name']).toBe('pinned');
    expect(pinned!.x).toEqual([1, 4]);
    expect(pinned!.y).toEqual([11, 14]);
    expect(pageable!.y).toEqual([1, 4]);

    const decode = run(['kv-cache', 'stateless'].flatMap((baseline) => [1, 4].map((sessions) => ({ baseline, sessions, per_token_ms: sessions * (baseline === 'kv-cache' ? 1 : 5), h2d_bytes_per_token: baseline === 'kv-cache' ? 0 : 2e6, status: 'ok' }))), 'decode');
    const [kv, stateless] = traces(decodeFigure(decode));
    expect([kv!['name'], stateless!['name']]).toEqual(['kv-cache', 'stateless']);
    expect(kv!.x).toEqual([1, 4]);
    expect(stateless!.y).toEqual([5, 20]);
    expect(figuresFor(decode).map((f) => titleOf(f).replace(/<br>.*/, ''))).toEqual(['Decode latency per token against sessions sharing the weights', 'Host-to-device bytes per decoded token']);
    const [perToken] = traces(figuresFor(decode)[1]!);
    expect(perToken!.x).toEqual(['kv-cache<br>sessions=1', 'kv-cache<br>sessions=4', 'stateless<br>sessions=1', 'stateless<br>sessions=4']);
    expect(perToken!.y).toEqual([0, 0, 2, 2]);

    const steer = run([0, 2, 4].map((layer) => ({ layer, scale: 0.9, edit: 'scale 0.9', output_change: layer / 10, status: 'ok' })), 'steering');
    const [line] = traces(steeringFigure(steer));
    expect(line!['name']).toBe('scale 0.9');
    expect(line!.x).toEqual([0, 2, 4]);
    expect(line!.y).toEqual([0, 0.2, 0.4]);
    const scales = run([2, 0.5, 1.1].map((scale) => ({ layer: 2, scale, edit: `scale ${scale}`, output_change: Math.abs(1 - scale), status: 'ok' })), 'steering');
    const [byScale] = traces(steeringFigure(scales));
    expect(byScale!['name']).toBe('layer 2');
    expect(byScale!.x).toEqual([0.5, 1.1, 2]);
    expect(byScale!.y).toEqual([0.5, Math.abs(1 - 1.1), 1]);
  });
});

describe('text over the plot wraps to its least width', () => {
  it('wrapText breaks at the separators, keeping their mark, and a part longer than a line at its spaces', () => {
    expect(wrapText('cpu · commit 6ab91b5 · budget 4.0 MB', 20, ' · ')).toEqual(['cpu ·', 'commit 6ab91b5 ·', 'budget 4.0 MB']);
    expect(wrapText('(median of 2 runs); not measured: resident', 25, '; ')).toEqual(['(median of 2 runs);', 'not measured: resident']);
    expect(wrapText('(median of 2 runs); not measured: resident', 60, '; ')).toEqual(['(median of 2 runs); not measured: resident']);
    expect(wrapText('nothing moved: recompute, no-paging', 16, '; ')).toEqual(['nothing moved:', 'recompute,', 'no-paging']);
  });

  it('a long evidence line and long notes take more lines, and the figure grows by them above the plot', () => {
    const r: Results = { benchmark: 'decode', device: 'NVIDIA H200 (141 GB)', driver: '570.124.06', commit: '56db451aaaa', date: '2026-12-02T10:00:00Z', model: 'synthetic:llama-70b,layers=36,dtype=bf16', weight_bytes: 25e9, budget_bytes: 20e9, check: { what: 'x', tolerance: 1e-2, pass: true, worst: 1.2e-3 }, rows: [] };
    const long = layout('t', r, {}, ['(median of 5 runs, bars from min to max)', `not measured: ${'resident (out_of_memory), '.repeat(4)}`]);
    const short = layout('t', { ...r, driver: undefined, model: undefined, check: undefined }, {}, []);
    expect(short.margin).toMatchObject({ t: 90 });
    expect(short.height).toBe(420);
    const lines = (long.title as { text: string }).text.split('<br>').length - 1; // evidence lines
    const noteLines = String(long.annotations!.at(-1)!.text).split('<br>').length;
    expect(lines).toBe(2);
    expect(noteLines).toBe(2);
    expect(long.margin).toMatchObject({ t: 90 + 20 + 15 });
    expect(long.height).toBe(420 + 20 + 15); // the plot keeps its 220 px
  });
});

describe('figures as HTML', () => {
  it('plotlyScript embeds plotly.js itself, no URL', () => {
    const s = plotlyScript();
    expect(s.length).toBeGreaterThan(1e6);
    expect(s.startsWith('<script>')).toBe(true);
    expect(s).not.toMatch(/<script[^>]*\bsrc=/);
    expect(s.slice(8, -9)).not.toContain('</script');
  });

  it('figureHtml draws into its own div and keeps the data inside the script safe', () => {
    const f = decodeFigure({ benchmark: 'decode', device: '</script><b>', commit: 'c', hbm_floor_ms: null, rows: [{ baseline: 'x', per_token_ms: 1 }] });
    const html = figureHtml(f, 'fig-7');
    // never narrower than an 800 px plot and its margins (the labels were placed for that)
    expect(html).toContain(`<div class="vramlab-figure" id="fig-7" style="min-width: ${800 + 70 + 30}px"></div>`);
    expect(html.match(/<\/script>/g)).toHaveLength(1);
    expect(html).toContain('\\u003c/script>\\u003cb>');
  });
});
