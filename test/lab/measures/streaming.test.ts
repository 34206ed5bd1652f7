// The streaming measure's evidence beside the rows: the probe, the resident reference, the timelines,
// and the on-request memory and load metrics; a reference that cannot run is a row that says so.
import { describe, expect, it } from 'vitest';
import { buildPlan } from '../../../lab/build.js';
import { defaultMetrics } from '../../../lab/measure.js';
import { streaming } from '../../../lab/measures/streaming.js';
import { runPlan } from '../../../lab/runner.js';
import { modelValue } from '../../../lab/settings.js';

const settings = { model: modelValue('synthetic:tiny'), prompt: { tokens: 8 }, new_tokens: 3, probe: 1 << 20, repeat: 2, warmup: 0 };

describe('streaming', () => {
  it('probes, runs the reference once, and keeps each placement timelines and, on request, memory and load time', async () => {
    const plan = buildPlan([{ name: 's', measure: 'streaming', settings: { ...settings, budget: 1_500_000, ring: 800 * 1024, baselines: ['stream', 'auto'], metrics: [...defaultMetrics(streaming), 'load_s', 'device_used_gb'] } }]);
    expect(plan.experiments[0]!.steps.map((s) => s.op)).toEqual(['probe', 'reference', 'stream', 'stream']);
    const e = (await runPlan(plan)).experiments[0]!;
    expect(e.pinned_h2d_gbps).toBeGreaterThan(0);
    expect(e.resident_reference?.latency_ms).toBeGreaterThan(0);
    expect(Object.keys(e.timelines ?? {})).toEqual(['stream', 'auto']);
    expect(e.timelines!['stream']!['prefill']).toHaveLength(4); // the tiny shape's layers
    // The first run of each placement loads its model; the second reuses it.
    expect(e.rows.map((r) => [r['placement'], typeof r['load_s'], r['logit_match']])).toEqual([
      ['stream', 'number', true],
      ['stream', 'object', true],
      ['auto', 'number', true],
      ['auto', 'object', true],
    ]);
    expect(e.rows[0]!['device_used_gb']).toBeGreaterThan(0);
    expect(Object.keys(e.rows[0]!)).not.toContain('current_vram_gb'); // not asked for
  });

  it('a reference that cannot run is one row naming it, and the placements still run', async () => {
    const plan = buildPlan([{ name: 's', measure: 'streaming', settings: { ...settings, model: modelValue('/nowhere'), baselines: ['stream'], repeat: 1 } }]);
    const rows = (await runPlan(plan)).experiments[0]!.rows;
    expect(rows.map((r) => [r['placement'], r['run_id'], r['status']])).toEqual([
      ['reference', null, 'error: /nowhere: no such model directory'],
      ['stream', null, 'error: /nowhere: no such model directory'],
    ]);
  });
});
