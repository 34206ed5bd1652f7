// streaming.ts: the weight-streaming benchmark (issue 4; the seeds' experiment 2): the streaming
// measure (lab/measures/streaming.ts) with GPU-sized settings. A synthetic model larger than the VRAM
// budget runs a prefill and decode steps under each placement, once each; rows give the effective
// bandwidth (weight bytes streamed / wall time of the passes), latency, peak VRAM, the memory at the
// end of the run, the load time and the logits' relative error against a resident run of the same
// weights without a budget; the pinned host-to-device bandwidth is probed in the same run, and each
// placement's per-layer timelines are kept.
//
//   node dist/bench/streaming.js --device cuda:0 --model synthetic:llama-70b,layers=20 --budget 12GB
//        --ring 4GB --prefill 512 --decode 16 [--placements stream,stream-sync,accelerate,auto]
//        [--hf hf_accelerate.json] --out streaming.json
//
// --decode counts the decode steps after the prefill (the measure's new_tokens is one more: the
// prefill's token). --hf merges the HF Accelerate row that bench/device/hf_accelerate.py measured on
// the same shape and budget in the same device command (a separate process: host RAM holds one copy
// of the weights).
import { benchPlan, flags } from './args.js';
import { finish, printTable, ratio } from './table.js';
import { defaultMetrics, type ExperimentResult, type Row, runSteps, writeResultsJson } from '../lab/index.js';
import { streaming } from '../lab/measures/streaming.js';
import { parseSize } from '../runtime/units.js';
import { readJsonFile } from '../runtime/files.js';

const values = flags(
  { device: 'cuda:0', model: 'synthetic:llama-70b,layers=20', budget: '12GB', ring: '4GB', prefetch: '2', prefill: '512', decode: '16', placements: 'stream,stream-sync,accelerate,auto', probe: '1GiB' },
  { optional: ['hf', 'out'], booleans: { reference: true } },
);

const plan = benchPlan('streaming', values, {
  budget: parseSize(values.budget),
  ring: parseSize(values.ring),
  prefetch: Number(values.prefetch),
  prompt: { tokens: Number(values.prefill) },
  new_tokens: Number(values.decode) + 1,
  probe: parseSize(values.probe),
  baselines: values.placements.split(','),
  repeat: 1,
  warmup: 0,
  metrics: [...defaultMetrics(streaming), 'current_vram_gb', 'device_used_gb', 'load_s'],
});
if (!values.reference) plan.experiments[0]!.steps = plan.experiments[0]!.steps.filter((s) => s.op !== 'reference');

const hf = values.hf ? (readJsonFile(values.hf, 2 ** 20, 'a HuggingFace baseline') as { row: Row; weight_bytes: number }) : null;
let result: ExperimentResult | null = null;
/** The run so far, with the HF Accelerate row first. */
const output = (r: ExperimentResult) => ({ ...r, rows: [...(hf ? [hf.row] : []), ...r.rows], hf_accelerate: hf });
for await (const e of runSteps(plan)) {
  if (e.kind === 'experiment') result = e.result;
  if (e.kind !== 'row') continue;
  const r = e.row;
  const f = (field: string, digits: number) => (typeof r[field] === 'number' ? (r[field] as number).toFixed(digits) : '-');
  console.log(`${String(r['placement']).padEnd(12)} ${f('effective_bandwidth_gbps', 1).padStart(7)} GB/s  latency ${f('latency_ms', 0).padStart(7)} ms  peak ${f('peak_vram_gb', 2)} GB  ${r['status']}`);
  if (values.out && result) writeResultsJson(values.out, output(result)); // after each placement: a run cut short keeps the rows so far
}
if (!result) throw new Error('the plan has no experiment');
if (hf && result.weight_bytes !== null && Math.abs(hf.weight_bytes - result.weight_bytes) / result.weight_bytes > 0.01)
  console.warn(`warning: HF model has ${hf.weight_bytes} weight bytes, vramlab's ${result.weight_bytes}`);

const pinned = result.pinned_h2d_gbps ?? Number.NaN;
const rows = output(result).rows;
const accel = rows.find((r) => r['placement'] === 'hf-accelerate')?.['effective_bandwidth_gbps'];
console.log(`\nstreaming on ${result.device}: ${values.model}, budget ${values.budget}, ring ${values.ring}, prefetch ${values.prefetch}`);
console.log(`pinned H2D ${pinned.toFixed(1)} GB/s, pageable ${(result.pageable_h2d_gbps ?? Number.NaN).toFixed(1)} GB/s (measured in this run); check: ${result.check?.pass ? 'passed' : 'FAILED'}, worst ${result.check?.worst}`);
printTable(
  ['placement', 'effective_bandwidth_gbps', ratio('x pinned', 'effective_bandwidth_gbps', pinned), ratio('x HF acc', 'effective_bandwidth_gbps', typeof accel === 'number' ? accel : Number.NaN),
    'decode_bandwidth_gbps', 'latency_ms', 'peak_vram_gb', 'logit_rel_err'],
  rows,
);
finish(values.out, output(result), result.rows, (r) => String(r['placement']));
