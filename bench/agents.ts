// agents.ts: the agent scaling benchmark (issue 16; seed 004, experiment 2.2): the agents measure
// (lab/measures/agents.ts) with GPU-sized settings. Llama-2-7B shape (synthetic fp16) under a 40 GB
// VRAM budget; N agents each reason (a 512-token prompt, 50 tokens), act (2 s) and reflect (a 32-token
// observation, 50 tokens on the same context), three times, starting spread over one act period. The
// systems side by side in one run: shared (one copy of the weights, batched, paged), keep-alive (a
// copy per agent: its out-of-memory point) and serverless (a weight reload from pinned memory and a
// re-prefill of the history every step). The steps run system by system, so that each system loads
// its model once; serverless runs at the agent counts of --serverless (each of its steps holds the
// device for a reload). --prefill-chunk is the shared system's prompt tokens per batched step; a list
// sweeps it (the shared system at every value, the others, which do not batch, at the first only), and
// every row carries its prefill_chunk. Prints the table (with the shared system's batched-step metrics:
// steps, their P50/P99 wall time, the mean decode batch and the host's gap between steps) and writes
//   {"benchmark": "agents", "device", "commit", "date", "model", "budget_bytes", "prompt_tokens",
//    "new_tokens", "observation_tokens", "act_ms", "rows": [...], ...}
// (agent_timeline.steps: every batched step of the largest shared run, [at_ms, sessions, decode_tokens,
// prefill_tokens, wall_ms, device_ms]).
//
//   node dist/bench/agents.js --device cuda:0 --out agents.json
//   node dist/bench/agents.js --device cuda:0 --agents 8,32,128 --serverless 8 --prefill-chunk 64,256,1024 --out agents-chunks.json
//   node dist/bench/agents.js --device cpu --model synthetic:tiny --budget 5MB --kv-pool 160 --prompt 32 --new-tokens 6 --observation 4 --act-ms 50 --agents 1,2,4 --serverless 1,2
import { benchPlan, flags } from './args.js';
import { finish, printTable } from './table.js';
import { buildPlan, modelValue, runPlan, type SettingValue } from '../lab/index.js';
import type { AgentsStep } from '../lab/measures/agents.js';
import { parseSize } from '../runtime/units.js';

const values = flags(
  {
    device: 'cuda:0',
    model: 'synthetic:llama-7b',
    budget: '40GB',
    agents: '1,2,4,8,16,32,64,128',
    serverless: '1,2,4,8,32',
    systems: 'shared,keep-alive,serverless',
    prompt: '512',
    'new-tokens': '50',
    observation: '32',
    'act-ms': '2000',
    iterations: '3',
    'prefill-chunk': '128',
  },
  { optional: ['host-budget', 'kv-pool', 'out'] },
);

const systems = values.systems.split(',');
const settings: Record<string, SettingValue> = {
  budget: parseSize(values.budget),
  baselines: systems,
  prompt: { tokens: Number(values.prompt) },
  new_tokens: Number(values['new-tokens']),
  observation: Number(values.observation),
  act: Number(values['act-ms']),
  iterations: Number(values.iterations),
  repeat: 1,
  warmup: 0,
};
if (values['host-budget']) settings['host_budget'] = parseSize(values['host-budget']);
if (values['kv-pool']) settings['kv_pool'] = Number(values['kv-pool']);
const agentCounts = { name: 'agents', values: values.agents.split(',').map(Number) };
const chunks = values['prefill-chunk'].split(',').map(Number);
// One prefill chunk is a setting; a list is a second sweep (benchPlan takes one: the plan is built here).
if (chunks.length === 1) settings['prefill_chunk'] = chunks[0]!;
const plan =
  chunks.length === 1
    ? benchPlan('agents', values, settings, agentCounts)
    : buildPlan([{ name: 'agents', measure: 'agents', settings: { device: values.device, model: modelValue(values.model), ...settings }, sweeps: [agentCounts, { name: 'prefill_chunk', values: chunks }] }]);
const serverlessAt = new Set(values.serverless.split(',').map(Number));
const experiment = plan.experiments[0]!;
// System by system (one model load each), serverless only where asked; keep-alive and serverless run
// no batched steps, so only at the first prefill chunk.
experiment.steps = (experiment.steps as AgentsStep[])
  .filter((s) => s.baseline !== 'serverless' || serverlessAt.has(s.agents))
  .filter((s) => s.baseline === 'shared' || s.prefillChunk === chunks[0])
  .sort((a, b) => systems.indexOf(a.baseline) - systems.indexOf(b.baseline));
const result = (await runPlan(plan)).experiments[0]!;
const out = {
  ...result,
  prompt_tokens: Number(values.prompt),
  new_tokens: Number(values['new-tokens']),
  observation_tokens: Number(values.observation),
  act_ms: Number(values['act-ms']),
  prefill_chunk: chunks.length === 1 ? chunks[0] : chunks,
  rows: [...result.rows].sort(
    (a, b) => systems.indexOf(String(a['system'])) - systems.indexOf(String(b['system'])) || Number(a['agents']) - Number(b['agents']) || Number(a['prefill_chunk']) - Number(b['prefill_chunk']),
  ),
};

const gb = (bytes: unknown) => (typeof bytes === 'number' ? (bytes / 1e9).toFixed(2) : '-');
// keep_alive_copies is there once keep-alive ran out of memory; without it every agent had its copy.
const copies = result['keep_alive_copies'];
const keepAlive = !systems.includes('keep-alive') ? '' : `; keep-alive ${typeof copies === 'number' ? `holds ${copies} copies` : 'held a copy per agent at every N'}`;
console.log(`agents on ${result.device}; ${values.model}, ${gb(result.weight_bytes)} GB weights, budget ${gb(result.budget_bytes)} GB${keepAlive}`);
console.log(`check (${result.check?.what ?? '-'}): ${result.check ? (result.check.pass ? 'passed' : 'FAILED') : 'not run (exact on the CPU backend; here see token_agreement)'}`);
printTable(
  ['system', 'agents', ...(chunks.length > 1 ? ['prefill_chunk'] : []), 'completed', 'oom', 'reason_p50_ms', 'reason_p99_ms', 'reflect_p50_ms', 'reflect_p99_ms', 'reflect_ttft_p50_ms', 'reflect_ttft_p99_ms', 'per_token_p99_ms', 'tokens_per_s', 'tokens_per_s_bound', 'paged_out_bytes', 'steps', 'step_p50_ms', 'step_p99_ms', 'step_max_ms', 'step_host_max_ms', 'batch_mean', 'host_gap_ms', 'host_gap_max_ms', 'token_match', 'token_agreement'],
  out.rows,
);
finish(values.out, out, out.rows, (r) => `${r['system']} with ${r['agents']} agents${chunks.length > 1 ? `, prefill chunk ${r['prefill_chunk']}` : ''}`);
