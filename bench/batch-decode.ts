// batch-decode.ts: the batched decode step against its HBM floor (issue 16): the batch-decode measure
// (lab/measures/batch-decode.ts) with GPU-sized settings. Llama-2-7B shape (synthetic fp16), every
// session a 512-token prompt, then 32 decode steps with one token of each session per step, batch 1 to
// 128; the floor of each batch is its weights plus its KV read once at the device-to-device bandwidth
// probed in the same run. One KV pool for the largest batch, so the model is loaded once. Prints the
// table and writes {"benchmark": "batch-decode", "device", "commit", "date", "d2d_gbps", "rows": [...]}
//
//   node dist/bench/batch-decode.js --device cuda:0 --out batch-decode.json
import { benchPlan, flags } from './args.js';
import { finish, printTable } from './table.js';
import { runPlan } from '../lab/index.js';

const values = flags({ device: 'cuda:0', model: 'synthetic:llama-7b', batches: '1,2,4,8,16,32,64,128', prompt: '512', steps: '32', reps: "2" }, { optional: ['out'] });
const batches = values.batches.split(',').map(Number);
const prompt = Number(values.prompt);
const steps = Number(values.steps);
const block = 16;
const plan = benchPlan('batch-decode', values, {
  prompt: { tokens: prompt },
  steps,
  kv_pool: Math.max(...batches) * Math.ceil((prompt + steps + 1) / block) * block,
  probe: 2 ** 30,
  repeat: Number(values.reps),
  warmup: 1,
}, { name: 'batch', values: batches });
const result = (await runPlan(plan)).experiments[0]!;
console.log(`batched decode on ${result.device}; ${values.model}, ${((result.weight_bytes ?? 0) / 1e9).toFixed(2)} GB weights; device-to-device ${typeof result['d2d_gbps'] === 'number' ? result['d2d_gbps'].toFixed(0) : '-'} GB/s`);
printTable(['batch', 'run_id', 'step_ms', 'device_step_ms', 'floor_ms', 'x_floor', 'tokens_per_s', 'decode_steps'], result.rows);
finish(values.out, result, result.rows, (r) => `batch ${r['batch']}`);
