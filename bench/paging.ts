// paging.ts: the KV paging benchmark (issue 15; seed 003, Figure 6): the paging measure
// (lab/measures/paging.ts) with GPU-sized settings. Llama-2-13B shape (synthetic fp16) under an 80 GB
// VRAM budget (the seed's card): each session prefills its own 1984-token prompt, then decodes 32
// tokens per turn, round robin, two rounds (2048 tokens of context each at the end), every session
// alive to the end; the policies side by side (next-use, lru, recompute, no-paging), their tokens
// checked against the same turns with everything resident on the full card (which also gives
// compute_only_ms), and the pinned copy bandwidth each way and both ways probed in the same run.
// Prints the table and writes
//   {"benchmark": "paging", "device", "commit", "date", "model", "budget_bytes", "host_budget_bytes",
//    "pinned_h2d_gbps", "pinned_d2h_gbps", "pinned_both_gbps", "rows": [...], ...}
//
//   node dist/bench/paging.js --device cuda:0 --sessions 64 --out paging.json
//   node dist/bench/paging.js --device cpu --model synthetic:tiny --budget 64MB --kv-pool 160 --prompt 48 --new-tokens 8 --sessions 4,8
import { benchPlan, flags } from './args.js';
import { finish, printTable, ratio } from './table.js';
import { runPlan, type SettingValue } from '../lab/index.js';
import { parseSize } from '../runtime/units.js';

const values = flags(
  { device: 'cuda:0', model: 'synthetic:llama-13b', budget: '80GB', sessions: '64', prompt: '1984', 'new-tokens': '32', turns: '2', policies: 'next-use,lru,recompute,no-paging' },
  { optional: ['host-budget', 'kv-pool', 'out'] },
);

const settings: Record<string, SettingValue> = {
  budget: parseSize(values.budget),
  baselines: values.policies.split(','),
  prompt: { tokens: Number(values.prompt) },
  new_tokens: Number(values['new-tokens']),
  turns: Number(values.turns),
  probe: 2 ** 30,
  repeat: 1,
  warmup: 0,
};
if (values['host-budget']) settings['host_budget'] = parseSize(values['host-budget']);
if (values['kv-pool']) settings['kv_pool'] = Number(values['kv-pool']);
const plan = benchPlan('paging', values, settings, { name: 'sessions', values: values.sessions.split(',').map(Number) });
const result = (await runPlan(plan)).experiments[0]!;

const gb = (bytes: unknown) => (typeof bytes === 'number' ? (bytes / 1e9).toFixed(1) : '-');
const gbps = (v: unknown) => (typeof v === 'number' ? v.toFixed(1) : '-');
console.log(`paging on ${result.device}; ${values.model}, ${gb(result.weight_bytes)} GB weights, budget ${gb(result.budget_bytes)} GB, host budget ${gb(result['host_budget_bytes'])} GB`);
console.log(`pinned copies: ${gbps(result['pinned_h2d_gbps'])} GB/s host to device, ${gbps(result['pinned_d2h_gbps'])} GB/s device to host, ${gbps(result['pinned_both_gbps'])} GB/s both ways at once`);
console.log(`check (${result.check?.what ?? '-'}): ${result.check ? (result.check.pass ? 'passed' : 'FAILED') : 'not run'}`);
printTable(
  ['policy', 'sessions', 'logical_demand_bytes', ratio('x budget', 'logical_demand_bytes', 'budget_bytes'), 'completed', 'oom', 'token_exact', 'paged_out_bytes', 'paged_in_bytes',
    'swap_out_gbps', 'swap_in_gbps', 'wall_ms', 'compute_only_ms', ratio('x bound', 'wall_ms', 'bound_ms'), 'stall_ms', 'recomputed_tokens'],
  result.rows,
);
finish(values.out, result, result.rows, (r) => `${r['policy']} with ${r['sessions']} sessions`);
