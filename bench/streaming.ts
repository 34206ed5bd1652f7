// streaming.ts: the weight-streaming benchmark (issue 4; the seeds' experiment 2). A synthetic model
// larger than the VRAM budget runs a prefill and decode steps under each placement; rows give the
// effective bandwidth (weight bytes streamed / wall time of the passes), latency, peak VRAM and the
// logits' relative error against a resident run of the same weights (on the same device without a
// budget, when it fits). The pinned host-to-device bandwidth is measured in the same run.
//
//   node dist/bench/streaming.js --device cuda:0 --model synthetic:llama-70b,layers=20 --budget 12GB
//        --ring 4GB --prefill 512 --decode 16 [--placements stream,stream-sync,accelerate,auto]
//        [--hf hf_accelerate.json] --out streaming.json
//
// --hf merges the HF Accelerate row that bench/device/hf_accelerate.py measured on the same shape and
// budget in the same device command (a separate process: host RAM holds one copy of the weights).
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type Logits, type Placement, Runtime, type StepStats } from '../runtime/index.js';
import { parseSize } from '../runtime/units.js';

const { values } = parseArgs({
  options: {
    device: { type: 'string', default: 'cuda:0' },
    model: { type: 'string', default: 'synthetic:llama-70b,layers=20' },
    budget: { type: 'string', default: '12GB' },
    ring: { type: 'string', default: '4GB' },
    prefetch: { type: 'string', default: '2' },
    prefill: { type: 'string', default: '512' },
    decode: { type: 'string', default: '16' },
    placements: { type: 'string', default: 'stream,stream-sync,accelerate,auto' },
    reference: { type: 'boolean', default: true },
    probe: { type: 'string', default: '1GiB' },
    hf: { type: 'string' },
    out: { type: 'string' },
  },
});

function prompt(n: number, vocab: number): number[] {
  let x = 7;
  return Array.from({ length: n }, () => (x = (x * 1103515245 + 12345) % 2147483648) % vocab);
}

function relErr(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += ((a[i] as number) - (b[i] as number)) ** 2;
    den += (b[i] as number) ** 2;
  }
  return Math.sqrt(num / den);
}

interface Run {
  logits: Float32Array;
  steps: StepStats[];
  peak: number;
  current: number;     // own accounting at the end of the run (weights, ring, KV pool, workspace)
  deviceUsed: number;  // cudaMemGetInfo's total - free at the end of the run (all processes, context included)
  residentLayers: number;
  weightBytes: number;
  loadMs: number;      // loadModel: allocation (pinned host memory included) and weight generation
}

async function runPlacement(placement: Placement, budget: number | undefined): Promise<Run> {
  const rt = await Runtime.open({ device: values.device, budget });
  try {
    const t0 = performance.now();
    const model = await rt.loadModel(values.model, {
      placement,
      ring: placement === 'resident' ? undefined : values.ring,
      prefetch: Number(values.prefetch),
      kvPoolTokens: Number(values.prefill) + Number(values.decode) + 16,
    });
    const loadMs = performance.now() - t0;
    const s = model.createSession();
    const steps: StepStats[] = [];
    const first = (await s.forward(prompt(Number(values.prefill), model.shape.vocabSize))) as Logits;
    steps.push(s.lastStep());
    let next = first.argmax();
    for (let i = 0; i < Number(values.decode); i++) {
      next = (await s.decode(next)).argmax();
      steps.push(s.lastStep());
    }
    const info = model.info();
    const mem = rt.memory();
    return {
      logits: first.data,
      steps,
      peak: mem.peak,
      current: mem.current,
      deviceUsed: mem.deviceTotal - mem.deviceFree,
      residentLayers: info.residentLayers,
      weightBytes: info.weightBytes,
      loadMs,
    };
  } finally {
    rt.dispose();
  }
}

const budget = parseSize(values.budget);
const probe = await Runtime.open({ device: values.device });
const pinnedGbps = await probe.copyBandwidth({ bytes: values.probe, pinned: true, reps: 5 });
const pageableGbps = await probe.copyBandwidth({ bytes: values.probe, pinned: false, reps: 3 });
const deviceName = probe.deviceName();
probe.dispose();

const reference = values.reference ? await runPlacement('resident', undefined).catch(() => null) : null;
const rows: Record<string, unknown>[] = [];
let firstWeightBytes: number | null = null;
const timelines: Record<string, unknown> = {};
if (values.hf) {
  const hf = JSON.parse(readFileSync(values.hf, 'utf8')) as { row: Record<string, unknown>; weight_bytes: number };
  rows.push(hf.row);
  if (reference && Math.abs(hf.weight_bytes - reference.weightBytes) / reference.weightBytes > 0.01)
    console.warn(`warning: HF model has ${hf.weight_bytes} weight bytes, vramlab's ${reference.weightBytes}`);
}

function result(): Record<string, unknown> {
  return {
    benchmark: 'streaming',
    device: deviceName,
    commit: process.env['VRAMLAB_COMMIT'] ?? 'unknown',
    date: new Date().toISOString(),
    model: values.model,
    weight_bytes: reference?.weightBytes ?? firstWeightBytes,
    budget_bytes: budget,
    ring: values.ring,
    prefetch: Number(values.prefetch),
    prefill_tokens: Number(values.prefill),
    decode_tokens: Number(values.decode),
    pinned_h2d_gbps: pinnedGbps,
    pageable_h2d_gbps: pageableGbps,
    resident_reference: reference ? { latency_ms: reference.steps.reduce((a, s) => a + s.wallMs, 0), peak_vram_gb: reference.peak / 1e9 } : null,
    rows,
    hf_accelerate: values.hf ? JSON.parse(readFileSync(values.hf, 'utf8')) : null,
    timelines,
  };
}

function save(): void {
  if (values.out) writeFileSync(values.out, JSON.stringify(result(), null, 1) + '\n');
}

for (const placement of values.placements.split(',') as Placement[]) {
  const r = await runPlacement(placement, budget);
  firstWeightBytes ??= r.weightBytes;
  const bytes = r.steps.reduce((a, s) => a + s.h2dBytes, 0);
  const wall = r.steps.reduce((a, s) => a + s.wallMs, 0);
  const decode = r.steps.slice(1);
  const decodeBw = decode.reduce((a, s) => a + s.h2dBytes, 0) / decode.reduce((a, s) => a + s.wallMs, 0) / 1e6;
  rows.push({
    placement,
    effective_bandwidth_gbps: bytes / wall / 1e6,
    decode_bandwidth_gbps: decodeBw,
    latency_ms: wall,
    prefill_ms: r.steps[0]?.wallMs,
    decode_ms_per_token: decode.reduce((a, s) => a + s.wallMs, 0) / decode.length,
    bytes_streamed: bytes,
    resident_layers: r.residentLayers,
    peak_vram_gb: r.peak / 1e9,
    current_vram_gb: r.current / 1e9,
    device_used_gb: r.deviceUsed / 1e9,
    logit_rel_err: reference ? relErr(r.logits, reference.logits) : null,
    load_s: r.loadMs / 1e3,
  });
  timelines[placement] = { prefill: r.steps[0]?.timeline, decode_last: r.steps[r.steps.length - 1]?.timeline };
  save();  // after each placement, so a run cut short keeps the rows so far
  console.log(`${placement.padEnd(12)} ${(bytes / wall / 1e6).toFixed(1).padStart(7)} GB/s  latency ${wall.toFixed(0).padStart(7)} ms  peak ${(r.peak / 1e9).toFixed(2)} GB`);
}

console.log(`\nstreaming on ${deviceName}: ${values.model}, budget ${values.budget}, ring ${values.ring}, prefetch ${values.prefetch}`);
console.log(`pinned H2D ${pinnedGbps.toFixed(1)} GB/s, pageable ${pageableGbps.toFixed(1)} GB/s (measured in this run)`);
const accel = rows.find((r) => r['placement'] === 'hf-accelerate')?.['effective_bandwidth_gbps'] as number | undefined;
console.log(`placement       eff GB/s  x pinned  x HF acc  decode GB/s  latency ms  peak VRAM GB  logit rel err`);
for (const r of rows) {
  const bw = r['effective_bandwidth_gbps'] as number;
  const err = r['logit_rel_err'] as number | null;
  console.log(
    `${String(r['placement']).padEnd(14)}${bw.toFixed(1).padStart(10)}${(bw / pinnedGbps).toFixed(2).padStart(10)}${(accel ? (bw / accel).toFixed(1) : '-').padStart(10)}${(r['decode_bandwidth_gbps'] as number).toFixed(1).padStart(13)}${(r['latency_ms'] as number).toFixed(0).padStart(12)}${(r['peak_vram_gb'] as number).toFixed(2).padStart(14)}  ${err === null ? 'n/a' : err.toExponential(2)}`,
  );
}
save();
