// The breakpoints measure's on-request metrics: what a pause costs an uninterrupted pass, per run and
// summarized into the experiment's evidence (the worst depth, against the 0.5 ms limit).
import { describe, expect, it } from 'vitest';
import { buildPlan } from '../../../lab/build.js';
import { defaultMetrics } from '../../../lab/measure.js';
import { breakpoints } from '../../../lab/measures/breakpoints.js';
import { OVERHEAD_LIMIT_MS, OVERHEAD_METRICS, overheadByLayer, overheadSummary } from '../../../lab/measures/breakpoints-overhead.js';
import type { ResultRow } from '../../../lab/results.js';
import { runPlan } from '../../../lab/runner.js';
import { modelValue } from '../../../lab/settings.js';

const plan = (metrics: string[]) =>
  buildPlan([
    {
      name: 'b',
      measure: 'breakpoints',
      settings: { model: modelValue('synthetic:tiny'), prompt: { tokens: 16 }, scale: 0.9, baselines: ['resume', 'offload'], repeat: 3, warmup: 0, metrics },
      sweeps: [{ name: 'layer', values: [0, 2] }],
    },
  ]);

describe('breakpoints: pause overhead', () => {
  it('is not measured unless asked for', async () => {
    const e = (await runPlan(plan(defaultMetrics(breakpoints)))).experiments[0]!;
    expect(Object.keys(e.rows[0]!)).not.toContain('pause_overhead_ms');
    expect(e['pause_overhead_ms']).toBeUndefined();
  });

  it('asked for: per resume run, the paired passes and the gaps; the evidence holds the worst depth', async () => {
    const e = (await runPlan(plan([...defaultMetrics(breakpoints), 'output_change', ...OVERHEAD_METRICS]))).experiments[0]!;
    const resume = e.rows.filter((r) => r['baseline'] === 'resume');
    expect(resume).toHaveLength(6);
    for (const r of resume) {
      expect(r['paused_pass_ms']).toBeGreaterThan(0);
      expect(r['uninterrupted_pass_ms']).toBeGreaterThan(0);
      expect(r['pause_overhead_ms']).toBeCloseTo((r['paused_pass_ms'] as number) - (r['uninterrupted_pass_ms'] as number), 9);
      expect(r['pause_gap_ms']).toBeGreaterThanOrEqual(0);
      expect(r['pause_gap_read_ms']).toBeGreaterThanOrEqual(0);
      expect(r['output_change']).toBeGreaterThan(0); // scaling by 0.9 moves the logits
    }
    for (const r of e.rows.filter((x) => x['baseline'] === 'offload')) expect(r['pause_overhead_ms']).toBeNull();
    const byLayer = overheadByLayer(e.rows);
    expect(byLayer.map((l) => l.layer)).toEqual([0, 2]);
    expect(e['pause_overhead_ms']).toBe(Math.max(...byLayer.map((l) => l.pause_overhead_ms as number)));
    expect(e['pause_gap_ms']).toBe(Math.max(...byLayer.map((l) => l.pause_gap_ms as number)));
    expect(e['pause_overhead_limit_ms']).toBe(OVERHEAD_LIMIT_MS);
    expect(e.check).toMatchObject({ pass: true }); // the unedited pause and resume matched the uninterrupted pass too
  });

  it('summarizes medians, the IQR of the differences, and the limit', () => {
    const run = (layer: number, overhead: number, gap: number): ResultRow => ({ baseline: 'resume', layer, uninterrupted_pass_ms: 10, paused_pass_ms: 10 + overhead, pause_overhead_ms: overhead, pause_overhead_wall_ms: overhead + 1, pause_gap_ms: gap, pause_gap_read_ms: null });
    const rows = [run(1, 0.1, 0.05), run(1, 0.3, 0.07), run(1, 0.2, 0.06), run(1, 0.9, 0.05), run(5, 0.6, 0.6), run(5, 0.7, 0.6)];
    expect(overheadByLayer(rows)[0]).toEqual({
      layer: 1,
      paused_pass_ms: 10.25,
      pause_overhead_ms: 0.25,
      pause_overhead_iqr_ms: 0.9 - 0.2, // ranks floor(0.75 n) and floor(0.25 n) of 4
      pause_overhead_wall_ms: 1.25,
      pause_overhead_wall_iqr_ms: expect.closeTo(0.7, 9),
      pause_gap_ms: 0.055,
      pause_gap_read_ms: null,
    });
    expect(overheadSummary(rows)).toMatchObject({ uninterrupted_ms: 10, pause_overhead_ms: expect.closeTo(0.65, 9), pause_gap_ms: 0.6, pause_gap_read_ms: null, pause_overhead_ok: false, pause_gap_ok: false });
    expect(overheadSummary([{ baseline: 'resume', layer: 1, resume_ms: 1 }])).toBeNull();
  });
});
