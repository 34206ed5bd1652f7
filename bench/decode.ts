// decode.ts: the resident decode benchmark (issue 3). Llama-2-7B shape, synthetic fp16 weights,
// batch 1: a 72-token prompt then 50 new tokens, and a 512-token prefill. Per token, two ways:
//   vramlab         Session.generate, greedy on the device (each step reads its token from the previous
//                   step's argmax, so the steps run back to back): (generate 50 - generate 1) / 49, the
//                   cost of each token after the first, as HF's generate is measured (hf_decode.py)
//   vramlab-decode  one Session.decode call per token from JavaScript, the argmax on the host: the
//                   device waits for that round trip at every token
// The 512-token prefill is the same in both rows. Merges the HuggingFace transformers numbers and the device-to-device bandwidth
// measured in the same device command (bench/device/hf_decode.py), prints the table and writes
//   {"benchmark": "decode", "device", "driver", "commit", "date", "hbm_floor_ms", "rows": [...]}
//
//   node dist/bench/decode.js --device cuda:0 --hf hf_decode.json --out decode.json [--model synthetic:llama-7b]
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Runtime } from '../runtime/runtime.js';

interface HfResult {
  device: string;
  driver: string;
  d2d_gbps: number;
  hf: { per_token_ms: number; prefill_ms: number };
}

const { values } = parseArgs({
  options: {
    device: { type: 'string', default: 'cuda:0' },
    model: { type: 'string', default: 'synthetic:llama-7b' },
    hf: { type: 'string' },
    out: { type: 'string' },
    reps: { type: 'string', default: '3' },
  },
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function prompt(n: number, vocab: number, seed: number): number[] {
  let x = seed;
  return Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % vocab;
  });
}

const rt = await Runtime.open({ device: values.device });
const model = await rt.loadModel(values.model, { kvPoolTokens: 1024 });
const vocab = model.shape.vocabSize;
const reps = Number(values.reps);

// Generate: the marginal cost of the 49 tokens after the first (which comes from the prefill).
async function generateMs(ids: number[], newTokens: number): Promise<number> {
  const s = model.createSession();
  const t0 = performance.now();
  await s.generate(ids, newTokens);
  const ms = performance.now() - t0;
  s.dispose();
  return ms;
}
const generated: number[] = [];
for (let r = 0; r < reps + 1; r++) {
  const ids = prompt(72, vocab, r + 1);
  const one = await generateMs(ids, 1);
  const fifty = await generateMs(ids, 50);
  if (r > 0) generated.push((fifty - one) / 49); // r = 0 warms up
}

// Decode calls: prefill 72 tokens, then 49 decode steps, each timed.
const perToken: number[] = [];
for (let r = 0; r < reps + 1; r++) {
  const s = model.createSession();
  let logits = await s.forward(prompt(72, vocab, r + 1));
  const steps: number[] = [];
  for (let i = 0; i < 49; i++) {
    const t0 = performance.now();
    logits = await s.decode(logits!.argmax());
    steps.push(performance.now() - t0);
  }
  s.dispose();
  if (r > 0) perToken.push(steps.reduce((a, b) => a + b, 0) / steps.length); // r = 0 warms up
}

// Prefill: 512 tokens, last-position logits.
const prefill: number[] = [];
for (let r = 0; r < reps + 2; r++) {
  const s = model.createSession();
  const t0 = performance.now();
  await s.forward(prompt(512, vocab, 100 + r));
  const ms = performance.now() - t0;
  s.dispose();
  if (r > 1) prefill.push(ms);
}

const info = model.info();
const hf = values.hf ? (JSON.parse(readFileSync(values.hf, 'utf8')) as HfResult) : undefined;
const hbmFloorMs = hf ? (info.weightBytes / (hf.d2d_gbps * 1e9)) * 1e3 : null;
const rows: Record<string, unknown>[] = [
  { system: 'vramlab', per_token_ms: median(generated), prefill_ms: median(prefill) },
  { system: 'vramlab-decode', per_token_ms: median(perToken), prefill_ms: median(prefill) },
];
if (hf) rows.push({ system: 'hf-transformers', per_token_ms: hf.hf.per_token_ms, prefill_ms: hf.hf.prefill_ms });
const result = {
  benchmark: 'decode',
  device: rt.deviceName(),
  driver: hf?.driver ?? null,
  commit: process.env['VRAMLAB_COMMIT'] ?? 'unknown',
  date: new Date().toISOString(),
  model: values.model,
  weight_bytes: info.weightBytes,
  d2d_gbps: hf?.d2d_gbps ?? null,
  hbm_floor_ms: hbmFloorMs,
  rows,
};
rt.dispose();

console.log(`decode benchmark on ${result.device}; ${values.model}, ${(info.weightBytes / 1e9).toFixed(2)} GB fp16 weights`);
if (hbmFloorMs !== null) console.log(`HBM floor ${hbmFloorMs.toFixed(2)} ms/token (device-to-device copy ${hf?.d2d_gbps.toFixed(0)} GB/s)`);
console.log('system            per-token ms   prefill-512 ms   x floor');
for (const r of rows) {
  const pt = r['per_token_ms'] as number;
  console.log(`${String(r['system']).padEnd(18)}${pt.toFixed(2).padStart(12)}${(r['prefill_ms'] as number).toFixed(2).padStart(17)}${hbmFloorMs ? (pt / hbmFloorMs).toFixed(2).padStart(10) : ''}`);
}
if (hf) console.log(`vramlab is ${(hf.hf.per_token_ms / (rows[0]!['per_token_ms'] as number)).toFixed(1)}x faster per token than HF transformers`);
if (values.out) writeFileSync(values.out, JSON.stringify(result, null, 1) + '\n');
