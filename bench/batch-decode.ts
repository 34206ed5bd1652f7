// batch-decode.ts: the batched decode step against its HBM floor (issue 16): the batch-decode measure
// (lab/measures/batch-decode.ts) with GPU-sized settings. Llama-2-7B shape (synthetic fp16), every
// session a 512-token prompt, then 32 decode steps with one token of each session per step, batch 1 to
// 128; the floor of each batch is its weights plus its KV read once at the device-to-device bandwidth
// probed in the same run. One KV pool for the largest batch, so the model is loaded once. Prints the
// table and writes {"benchmark": "batch-decode", "device", "commit", "date", "d2d_gbps", "rows": [...]}
//
//   node dist/bench/batch-decode.js --device cuda:0 --out batch-decode.json
import { flags } from './args.js';
import { type Column, num, printTable } from './table.js';
import { buildPlan, modelValue, runPlan, writeResultsJson } from '../lab/index.js';

const values = flags({ device: 'cuda:0', model: 'synthetic:llama-7b', batches: '1,2,4,8,16,32,64,128', prompt: '512', steps: '32', reps: "2" }, { optional: ['out'] });
const batches = values.batches.split(',').map(Number);
const prompt = Number(values.prompt);
const steps = Number(values.steps);
const block = 16;
const plan = buildPlan([
  {
    name: 'batch-decode',
    measure: 'batch-decode',
    settings: {
      device: values.device,
      model: modelValue(values.model),
      prompt: { tokens: prompt },
      steps,
      kv_pool: Math.max(...batches) * Math.ceil((prompt + steps + 1) / block) * block,
      probe: 2 ** 30,
      repeat: Number(values.reps),
      warmup: 1,
    },
    sweeps: [{ name: 'batch', values: batches }],
  },
]);
const result = (await runPlan(plan)).experiments[0]!;
console.log(`batched decode on ${result.device}; ${values.model}, ${((result.weight_bytes ?? 0) / 1e9).toFixed(2)} GB weights; device-to-device ${typeof result['d2d_gbps'] === 'number' ? result['d2d_gbps'].toFixed(0) : '-'} GB/s`);
const columns: Column[] = [
  { header: 'batch', value: num('batch', 0) },
  { header: 'run', value: num('run_id', 0) },
  { header: 'step ms', value: num('step_ms', 3) },
  { header: 'device ms', value: num('device_step_ms', 3) },
  { header: 'floor ms', value: num('floor_ms', 3) },
  { header: 'x floor', value: num('x_floor', 2) },
  { header: 'tokens/s', value: num('tokens_per_s', 0) },
  { header: 'steps', value: num('decode_steps', 0) },
];
printTable(columns, result.rows);
if (values.out) writeResultsJson(values.out, result);
for (const r of result.rows.filter((x) => x['status'] !== 'ok')) {
  console.error(`batch ${r['batch']}: ${r['status']}`);
  process.exitCode = 1;
}
