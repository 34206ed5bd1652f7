// decode.ts: the resident decode benchmark (issue 3): the decode measure (lab/measures/decode.ts) with
// GPU-sized settings. Llama-2-7B shape, synthetic fp16 weights, batch 1: a 72-token prompt then 50 new
// tokens, and a 512-token prompt for the prefill. Per token, two baselines:
//   generate   Session.generate, greedy on the device (each step reads its token from the previous
//              step's argmax, so the steps run back to back): (generate 50 - generate 1) / 49, the
//              cost of each token after the first, as HF's generate is measured (hf_decode.py)
//   kv-cache   one Session.decode call per token from JavaScript, the argmax on the host: the device
//              waits for that round trip at every token
// A row per baseline: per_token_ms at 72 tokens and prefill_ms of the 512-token prompt, the medians of
// the measured runs. Merges the HuggingFace transformers numbers and the device-to-device bandwidth
// measured in the same device command (bench/device/hf_decode.py), prints the table and writes
//   {"benchmark": "decode", "device", "driver", "commit", "date", "hbm_floor_ms", "rows": [...]}
//
//   node dist/bench/decode.js --device cuda:0 --hf hf_decode.json --out decode.json [--model synthetic:llama-7b]
import { benchPlan, flags } from './args.js';
import { finish, printTable, ratio } from './table.js';
import { medians, type Row, runPlan } from '../lab/index.js';
import { readJsonFile } from '../runtime/files.js';

interface HfResult {
  device: string;
  driver: string;
  d2d_gbps: number;
  hf: { per_token_ms: number; prefill_ms: number };
}

const values = flags({ device: 'cuda:0', model: 'synthetic:llama-7b', reps: '3' }, { optional: ['hf', 'out'] });

const PROMPT = 72;
const NEW_TOKENS = 50;
const PREFILL = 512;
const plan = benchPlan('decode', values, {
  baselines: ['generate', 'kv-cache'],
  new_tokens: NEW_TOKENS,
  kv_pool: 1024, // one pool for both prompts: the model is loaded once
  repeat: Number(values.reps),
  warmup: 1,
}, { name: 'prompt', values: [{ tokens: PROMPT }, { tokens: PREFILL }] });
const result = (await runPlan(plan)).experiments[0]!;
const at = (tokens: number) => medians(result.rows.filter((r) => r['prompt_tokens'] === tokens), ['baseline'], ['per_token_ms', 'prefill_ms']);
const decoded = at(PROMPT);
const prefilled = at(PREFILL);
const rows: Row[] = decoded.map((r) => ({ baseline: r['baseline'], per_token_ms: r['per_token_ms'], prefill_ms: prefilled.find((p) => p['baseline'] === r['baseline'])?.['prefill_ms'] ?? null }));

const hf = values.hf ? (readJsonFile(values.hf, 2 ** 20, 'a HuggingFace baseline') as HfResult) : undefined;
if (hf) rows.push({ baseline: 'hf-transformers', per_token_ms: hf.hf.per_token_ms, prefill_ms: hf.hf.prefill_ms });
const hbmFloorMs = hf && result.weight_bytes !== null ? (result.weight_bytes / (hf.d2d_gbps * 1e9)) * 1e3 : null;
const out = { ...result, driver: hf?.driver ?? null, d2d_gbps: hf?.d2d_gbps ?? null, hbm_floor_ms: hbmFloorMs, prompt_tokens: PROMPT, new_tokens: NEW_TOKENS, prefill_tokens: PREFILL, rows };

console.log(`decode benchmark on ${result.device}; ${values.model}, ${((result.weight_bytes ?? 0) / 1e9).toFixed(2)} GB fp16 weights; check: ${result.check?.pass ? 'passed' : 'FAILED'}`);
if (hbmFloorMs !== null) console.log(`HBM floor ${hbmFloorMs.toFixed(2)} ms/token (device-to-device copy ${hf?.d2d_gbps.toFixed(0)} GB/s)`);
printTable(['baseline', 'per_token_ms', 'prefill_ms', ...(hbmFloorMs === null ? [] : [ratio('x floor', 'per_token_ms', hbmFloorMs)])], rows);
const generate = rows.find((r) => r['baseline'] === 'generate')?.['per_token_ms'];
if (hf && typeof generate === 'number') console.log(`vramlab is ${(hf.hf.per_token_ms / generate).toFixed(1)}x faster per token than HF transformers`);
finish(values.out, out, result.rows, (r) => `${r['baseline']} with a ${r['prompt_tokens']}-token prompt`);
