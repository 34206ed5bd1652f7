// results-fixtures.ts: results objects for the figure, report and notebook tests: the committed
// bench/results files, a streaming result measured here on the CPU backend (real timelines), and a
// breakpoints result in issue 5's shape.
import { join } from 'node:path';
import type { Results, TimelineEntry } from '../lab/index.js';
import { type Placement, Runtime } from '../runtime/index.js';

export const BENCH_RESULTS = join(import.meta.dirname, '..', 'bench', 'results');

const SPEC = 'synthetic:hidden=128,layers=6,heads=4,kv_heads=2,ffn=344,vocab=500,seed=5';
const BUDGET = 6e6; // auto keeps 2 of the 6 layers resident, the ring and KV pool take the rest

/**
 * The streaming benchmark's result shape from real CPU runs: a prefill and two decode steps per
 * placement under a 6 MB budget, with the pinned copy bandwidth probed in the same run.
 */
export async function cpuStreamingResults(placements: Placement[] = ['stream', 'stream-sync', 'accelerate', 'auto']): Promise<Results> {
  const probe = await Runtime.open({ device: 'cpu' });
  const pinned = await probe.copyBandwidth({ bytes: '8MB', reps: 2 });
  const pageable = await probe.copyBandwidth({ bytes: '8MB', pinned: false, reps: 2 });
  const device = probe.deviceName();
  probe.dispose();
  const rows: Results['rows'] = [];
  const timelines: Record<string, Record<string, TimelineEntry[]>> = {};
  for (const placement of placements) {
    const rt = await Runtime.open({ device: 'cpu', budget: BUDGET });
    const model = await rt.loadModel(SPEC, { placement, kvPoolTokens: 64 });
    const s = model.createSession();
    let logits = await s.forward([1, 2, 3, 4, 5, 6, 7, 8]);
    const steps = [s.lastStep()];
    for (let i = 0; i < 2; i++) {
      logits = await s.decode(logits!.argmax());
      steps.push(s.lastStep());
    }
    const bytes = steps.reduce((a, st) => a + st.h2dBytes, 0);
    const wall = steps.reduce((a, st) => a + st.wallMs, 0);
    rows.push({
      placement,
      effective_bandwidth_gbps: bytes / wall / 1e6,
      latency_ms: wall,
      bytes_streamed: bytes,
      resident_layers: model.info().residentLayers,
      peak_vram_gb: rt.memory().peak / 1e9,
    });
    timelines[placement] = { prefill: steps[0]!.timeline, decode_last: steps[steps.length - 1]!.timeline };
    rt.dispose();
  }
  return {
    benchmark: 'streaming',
    device,
    commit: 'test',
    date: new Date().toISOString(),
    model: SPEC,
    budget_bytes: BUDGET,
    pinned_h2d_gbps: pinned,
    pageable_h2d_gbps: pageable,
    rows,
    timelines,
  };
}

/** A breakpoints result as issue 5's benchmark writes it (numbers made up for the figure's shape). */
export function breakpointsResults(): Results {
  const layers = [1, 10, 20, 30, 39];
  return {
    benchmark: 'breakpoints',
    device: 'test device',
    commit: '0123456789abcdef',
    date: '2026-01-01T00:00:00Z',
    model: 'synthetic:llama-13b',
    pause_overhead_ms: 0.05,
    pause_gap_ms: 0.04,
    rows: [
      ...layers.map((layer) => ({ baseline: 'resume', layer, resume_ms: 20 + layer * 0.01, bytes_moved: 0 })),
      ...layers.map((layer) => ({ baseline: 'recompute', layer, resume_ms: 5 + layer * 2, bytes_moved: 0 })),
      ...layers.map((layer) => ({ baseline: 'offload', layer, resume_ms: 40, bytes_moved: 1.6e9 })),
    ],
  };
}
