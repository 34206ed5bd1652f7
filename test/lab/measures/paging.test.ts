// The paging measure on the CPU: sessions whose KV caches exceed the pool complete token-exact under
// every paging policy (no-paging runs out of memory instead), next-use moves fewer bytes than lru,
// recompute re-runs tokens rather than copying, a pool that holds everything pages nothing; the
// residency evidence, the figures of a sessions sweep, the .vlab diagnostics of bad settings, and the
// pager's records on performance.now()'s clock.
import { beforeAll, describe, expect, it } from 'vitest';
import { checkSource, formatDiagnostics } from '../../../dsl/index.js';
import { buildPlan, type ExperimentResult, type Figure, modelValue, pagingFigures, type ResidencyTimeline, type ResultRow, runPlan, sizeUnit } from '../../../lab/index.js';
import { Runtime } from '../../../runtime/index.js';
import { cpuRuntime } from '../../helpers.js';

const POLICIES = ['next-use', 'lru', 'recompute', 'no-paging'];
// 48 prompt tokens + 2 turns of 8: 64 tokens of context, 4 blocks of 16; a pool of 160 tokens (10 blocks) holds two sessions.
const settings = { model: modelValue('synthetic:tiny'), budget: 64_000_000, prompt: { tokens: 48 }, new_tokens: 8, turns: 2, probe: 1 << 20, repeat: 1, warmup: 0 };

async function run(extra: Record<string, unknown>, sessions: number[]): Promise<ExperimentResult> {
  const plan = buildPlan([{ name: 'p', measure: 'paging', settings: { ...settings, ...extra }, sweeps: [{ name: 'sessions', values: sessions }] }]);
  return (await runPlan(plan)).experiments[0]!;
}

const rowOf = (e: ExperimentResult, policy: string, sessions: number): ResultRow => e.rows.find((r) => r['policy'] === policy && r['sessions'] === sessions)!;
const moved = (r: ResultRow) => (r['paged_out_bytes'] as number) + (r['paged_in_bytes'] as number);
const titleOf = (f: Figure) => (f.layout.title as { text: string }).text.replace(/<br>.*/, '');

describe('paging: a pool that holds two sessions, a sessions sweep', () => {
  let e: ExperimentResult;
  beforeAll(async () => {
    e = await run({ kv_pool: 160 }, [2, 4, 8]);
  });

  it('probes, runs the reference once per point, and a row per policy per point', () => {
    const plan = buildPlan([{ name: 'p', measure: 'paging', settings: { ...settings, kv_pool: 160 }, sweeps: [{ name: 'sessions', values: [2, 8] }] }]);
    expect(plan.experiments[0]!.steps.map((s) => s.op)).toEqual(['probe', 'reference', 'paging', 'paging', 'paging', 'paging', 'reference', 'paging', 'paging', 'paging', 'paging']);
    expect(e.rows.map((r) => [r['policy'], r['sessions'], r['status']])).toEqual([2, 4, 8].flatMap((n) => POLICIES.map((p) => [p, n, 'ok'])));
    expect(e['pinned_h2d_gbps']).toBeGreaterThan(0);
    expect(e['pinned_d2h_gbps']).toBeGreaterThan(0);
    expect(e['pinned_both_gbps']).toBeGreaterThan(0);
    expect(e['host_budget_bytes']).toBeGreaterThan(0);
    for (const r of e.rows) {
      expect(r).toMatchObject({ kv_pool_tokens: 160, prompt_tokens: 48, new_tokens: 8, turns: 2, context_tokens: 64, budget_bytes: 64_000_000 });
      expect(r['kv_pool_bytes']).toBeGreaterThan(0);
      expect(r['peak_kv_device_bytes'] as number).toBeLessThanOrEqual(r['kv_pool_bytes'] as number);
      expect(r['wall_ms']).toBeGreaterThan(0);
      if (r['completed'] !== r['sessions']) {
        // Not the reference's work: no compute-only time or bound to hold it to.
        expect([r['compute_only_ms'], r['bound_ms']]).toEqual([null, null]);
        continue;
      }
      expect(r['compute_only_ms']).toBeGreaterThan(0);
      expect(r['bound_ms'] as number).toBeGreaterThanOrEqual(r['compute_only_ms'] as number);
    }
  });

  it('every paging policy completes every session with the reference\'s tokens, at 4 and 8 sessions of a pool for two', () => {
    for (const n of [2, 4, 8])
      for (const p of ['next-use', 'lru', 'recompute']) expect(rowOf(e, p, n), `${p}, ${n} sessions`).toMatchObject({ completed: n, oom: false, token_exact: true });
    expect(e.check).toMatchObject({ pass: true });
    // 8 sessions ask for four times the pool's KV: the copying policies page, both ways.
    for (const p of ['next-use', 'lru']) {
      const r = rowOf(e, p, 8);
      expect(r['paged_out_bytes']).toBeGreaterThan(0);
      expect(r['paged_in_bytes']).toBeGreaterThan(0);
      expect(r['evictions']).toBeGreaterThan(0);
      expect(r['logical_demand_bytes'] as number).toBeGreaterThan((e.weight_bytes as number) + (r['kv_pool_bytes'] as number));
    }
  });

  it('next-use, told the turn order, moves fewer bytes than lru on the same round-robin turns (8 sessions)', () => {
    expect(moved(rowOf(e, 'next-use', 8))).toBeLessThan(moved(rowOf(e, 'lru', 8)));
  });

  it('no-paging runs out of memory and completes fewer sessions, where the others complete all', () => {
    for (const n of [4, 8]) {
      const r = rowOf(e, 'no-paging', n);
      expect(r['oom']).toBe(true);
      expect(r['completed'] as number).toBeLessThan(n);
      expect(moved(r)).toBe(0);
    }
    expect(rowOf(e, 'no-paging', 2)).toMatchObject({ completed: 2, oom: false, token_exact: true }); // two fit
  });

  it('next-use and lru pin their host store before the turns: no pinning inside them; the others reserve nothing', () => {
    for (const n of [2, 4, 8])
      for (const p of ['next-use', 'lru']) {
        const r = rowOf(e, p, n);
        expect(r['host_alloc_ms'], `${p} with ${n}`).toBe(0);
        expect(r['host_reserve_ms'] as number).toBeGreaterThanOrEqual(0);
        // It holds what the copies used at once (whole chunks, so at least that).
        expect(r['host_store_bytes'] as number).toBeGreaterThanOrEqual(moved(r) > 0 ? (r['kv_pool_bytes'] as number) / 10 : 0);
      }
    expect(rowOf(e, 'recompute', 8)['host_reserve_ms']).toBe(0);
    expect(rowOf(e, 'no-paging', 8)['host_reserve_ms']).toBe(0);
  });

  it('recompute drops and re-runs tokens: recomputed tokens, nothing paged', () => {
    const r = rowOf(e, 'recompute', 8);
    expect(r['recomputed_tokens']).toBeGreaterThan(0);
    expect(r['paged_out_bytes']).toBe(0);
    expect(r['paged_in_bytes']).toBe(0);
    for (const p of ['next-use', 'lru', 'no-paging']) expect(rowOf(e, p, 8)['recomputed_tokens']).toBe(0);
  });

  it('the residency evidence: one timeline per policy, of the run with the most sessions', () => {
    const residency = e['residency'] as Record<string, ResidencyTimeline>;
    expect(Object.keys(residency)).toEqual(POLICIES);
    for (const [policy, t] of Object.entries(residency)) {
      expect(t.sessions, policy).toBe(8);
      expect(t.kv_block_bytes).toBeGreaterThan(0);
      expect(t.pool_blocks).toBe(10);
      expect(t.weight_bytes).toBe(e.weight_bytes);
      expect(t.events.length).toBeGreaterThan(0);
      expect(t.events[0]![0]).toBe(0); // ms since the first record
      for (const [ms, session, device, host, poolUsed, hostUsed] of t.events) {
        expect(ms).toBeGreaterThanOrEqual(0);
        expect(session).toBeGreaterThanOrEqual(0);
        expect(session).toBeLessThan(8);
        expect(device! + host!).toBeGreaterThanOrEqual(0);
        expect(poolUsed).toBeLessThanOrEqual(t.pool_blocks);
        expect(hostUsed).toBeGreaterThanOrEqual(0);
      }
      const times = t.events.map((x) => x[0]!);
      expect(times).toEqual([...times].sort((a, b) => a - b));
    }
    // The copying policies hold blocks on host at some point; recompute and no-paging never do.
    for (const p of ['next-use', 'lru']) expect(Math.max(...residency[p]!.events.map((x) => x[5]!))).toBeGreaterThan(0);
    for (const p of ['recompute', 'no-paging']) expect(Math.max(...residency[p]!.events.map((x) => x[5]!))).toBe(0);
  });

  it('the figures of a sessions sweep: demand against VRAM, memory over time, bytes moved, wall time, residency; none empty', () => {
    const figures = pagingFigures(e);
    expect(figures.map(titleOf)).toEqual([
      'Memory oversubscription: logical demand against physical VRAM (shaded: paged to host)',
      'Memory over one run of 8 sessions: the KV pool in use against the demand (what the host holds is the gap)',
      'KV bytes moved per paging policy',
      'Wall time per paging policy',
      "Where each session's KV lives over the run (next-use, 8 sessions)",
    ]);
    for (const f of figures) {
      expect(f.data.length, titleOf(f)).toBeGreaterThan(0);
      const values = f.data.flatMap((d) => [...(((d as { y?: unknown[] }).y ?? []) as unknown[]), ...((((d as { z?: unknown[][] }).z ?? []) as unknown[][]).flat())]);
      expect(values.some((v) => typeof v === 'number' && Number.isFinite(v)), titleOf(f)).toBe(true);
      expect((f.layout.title as { text: string }).text).toContain(e.device);
    }
    const [demand, time, bytes, wall, residency] = figures as [Figure, Figure, Figure, Figure, Figure];
    // Figure 6: x the sessions; the demand grows with them, the physical VRAM stops at the pool.
    const [physical, logical] = demand.data as { x: number[]; y: number[] }[];
    expect(logical!.x).toEqual([2, 4, 8]);
    expect(logical!.y[2]!).toBeGreaterThan(logical!.y[0]!);
    expect(physical!.y[2]!).toBeLessThan(logical!.y[2]!);
    expect(demand.layout.shapes).toHaveLength(1); // the budget
    expect(time.data.map((d) => d.name)).toEqual(POLICIES.flatMap((p) => [`${p}: physical VRAM`, `${p}: logical demand`]));
    expect(bytes.data.map((d) => d.name)).toEqual(['paged out (device to host)', 'paged in (host to device)']);
    // A bar per policy and point that moved bytes; the rest named in a note.
    expect((bytes.data[0] as { x: string[] }).x).toEqual(['next-use<br>sessions=4', 'lru<br>sessions=4', 'next-use<br>sessions=8', 'lru<br>sessions=8']);
    expect(bytes.layout.annotations!.at(-1)!.text).toBe('nothing moved: recompute, no-paging; next-use, lru at sessions=2');
    // One size unit for the axis and every label: that of the most moved (a run of one, so its bytes).
    const unit = sizeUnit(Math.max(...e.rows.map(moved))).unit;
    expect((bytes.layout.yaxis!.title as { text: string }).text).toBe(`paged out + paged in (${unit})`);
    for (const a of bytes.layout.annotations!.slice(0, -1)) expect(String(a.text)).toMatch(new RegExp(`^[\\d.,]+ ${unit} out,(<br>| )[\\d.,]+ ${unit} in$`));
    expect(wall.data.map((d) => d.name)).toEqual(['wall time', 'compute only (everything resident, full card)', 'bound: max(compute, bytes moved / pinned both-ways bandwidth)']);
    const heat = residency.data[0] as { type: string; y: number[]; z: (number | null)[][] };
    expect(heat.type).toBe('heatmap');
    expect(heat.y).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(heat.z.flat().some((v) => v !== null && v < 1)).toBe(true); // some session partly on host
  });

  it('without a sessions sweep there is no demand-against-sessions figure', () => {
    const one = { ...e, rows: e.rows.filter((r) => r['sessions'] === 8) };
    expect(pagingFigures(one).map(titleOf)).toEqual([
      'Memory over one run of 8 sessions: the KV pool in use against the demand (what the host holds is the gap)',
      'KV bytes moved per paging policy',
      'Wall time per paging policy',
      "Where each session's KV lives over the run (next-use, 8 sessions)",
    ]);
  });
});

describe('paging: a pool that holds everything', () => {
  it('pages nothing, under any policy, and every session completes token-exact', async () => {
    const e = await run({ kv_pool: 1024 }, [8]);
    expect(e.rows.map((r) => r['policy'])).toEqual(POLICIES);
    for (const r of e.rows) {
      expect(r, String(r['policy'])).toMatchObject({ completed: 8, oom: false, token_exact: true, paged_out_bytes: 0, paged_in_bytes: 0, recomputed_tokens: 0, evictions: 0, swap_out_gbps: null, swap_in_gbps: null, status: 'ok' });
      expect(r['logical_demand_bytes'] as number).toBeLessThanOrEqual((e.weight_bytes as number) + (r['kv_pool_bytes'] as number));
    }
    expect(e.check).toMatchObject({ pass: true });
  });
});

describe('paging: .vlab diagnostics', () => {
  const paging = (...extra: string[]) => ['experiment p {', '  measure = paging', '  model = synthetic(tiny)', ...extra.map((l) => `  ${l}`), '}'].join('\n');
  const diagnose = (text: string) => formatDiagnostics(checkSource(text, { file: 't.vlab' }));

  it('accepts the settings of the measure', () => {
    expect(checkSource(paging('baselines = [next-use, lru]', 'turns = 3', 'new_tokens = 4', 'kv_pool = 160 tokens', 'host_budget = 1 GB', 'probe = 1 MiB', 'sweep sessions in [2, 4]'), { file: 't.vlab' })).toEqual([]);
  });

  it('rejects bad settings at their line and column', () => {
    expect(diagnose(paging('turns = 0'))).toBe('t.vlab:4:11: error: turns must be from 1 to 1024, got 0');
    expect(diagnose(paging('turns = 2.5'))).toBe('t.vlab:4:11: error: turns must be a whole number, got 2.5');
    expect(diagnose(paging('sessions = 0'))).toBe('t.vlab:4:14: error: sessions must be from 1 to 4096, got 0');
    expect(diagnose(paging('sweep turns in [1, 0]'))).toBe('t.vlab:4:22: error: turns must be from 1 to 1024, got 0');
    expect(diagnose(paging('baselines = [next-use, fifo]'))).toBe('t.vlab:4:26: error: baselines has no choice fifo\n  hint: use next-use, lru, recompute, no-paging');
    expect(diagnose(paging('host_budget = 12'))).toMatch(/^t\.vlab:4:17: error: host_budget needs a unit: 12 what\?/);
    expect(diagnose(paging('probe = 3 tokens'))).toMatch(/^t\.vlab:4:13: error: probe is a size, and tokens is not a unit of size/);
    expect(diagnose(paging('layer = 1'))).toBe('t.vlab:4:3: error: layer does not apply to measure paging\n  hint: layer is for breakpoints, steering');
    // Several errors of one experiment in one run, in source order, each with its class.
    expect(checkSource(paging('turns = 0', 'baselines = [fifo]', 'windows = 1'), { file: 't.vlab' }).map((d) => `${d.line}:${d.column} ${d.code}`)).toEqual(['4:11 range', '5:16 unknown-name', '6:3 unknown-setting']);
  });
});

describe('the pager\'s records on performance.now()\'s clock', () => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await cpuRuntime();
  });

  // runtime/paging.ts maps the pager's clock onto performance.now()'s with two clock reads that are not
  // atomic: on a loaded machine the mapping is off by a few microseconds (up to ~20 seen), so SLACK.
  const SLACK = 0.05; // ms

  it('a record\'s atMs lies between performance.now() before and after the call that made it', async () => {
    const model = await rt.loadModel('synthetic:tiny', { kvPoolTokens: 64 });
    const session = model.createSession();
    await session.forward(Array.from({ length: 20 }, (_, i) => (7 * i + 3) % model.shape.vocabSize));

    const within = async (call: () => unknown, kind: string) => {
      const from = model.pagingEvents(0).length;
      const before = performance.now();
      await call();
      const after = performance.now();
      const events = model.pagingEvents(from);
      expect(events.map((x) => x.kind)).toContain(kind);
      for (const x of events) {
        expect(x.atMs, `${x.kind} (${x.reason})`).toBeGreaterThanOrEqual(before - SLACK);
        expect(x.atMs, `${x.kind} (${x.reason})`).toBeLessThanOrEqual(after + SLACK);
      }
      return events;
    };
    const out = await within(() => session.pageOut(), 'out');
    expect(out.find((x) => x.kind === 'out')).toMatchObject({ reason: 'explicit', blocks: 2 });
    const back = await within(() => session.pageIn(), 'in');
    // The two clocks agree in their differences too: atMs - tMs is the same for every record.
    const offsets = [...out, ...back].map((x) => x.atMs - x.tMs);
    for (const o of offsets) expect(Math.abs(o - offsets[0]!)).toBeLessThan(SLACK);
    session.dispose();
    model.dispose();
  });
});
