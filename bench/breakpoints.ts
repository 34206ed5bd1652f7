// breakpoints.ts: the breakpoint benchmark (issue 5; the seeds' experiment 3): the breakpoints measure
// (lab/measures/breakpoints.ts) with GPU-sized settings. A prompt's prefill pauses after layer N, the
// activation is scaled (the seed's steering edit), and the step goes on to the logits from the held
// state (resume), by recompute, or offloaded, each timed from the paused state held; the resume runs
// also measure what a pause costs an uninterrupted pass (lab/measures/breakpoints-overhead.ts: paired
// passes, order alternating, device and wall time, the device gap, the gap with the activation read).
// Rows are the medians over the measured runs per baseline and depth, the resume rows with the
// overhead's medians and interquartile ranges; the evidence holds the worst depth against the 0.5 ms
// limit. Prints the table and writes
//   {"benchmark": "breakpoints", "device", "commit", "date", "pause_overhead_ms", "pause_gap_ms", "rows": [...], ...}
//
//   node dist/bench/breakpoints.js --device cuda:0 --out breakpoints.json     (Llama-2-13B shape, 2048 tokens)
//   node dist/bench/breakpoints.js --device cpu --model synthetic:tiny --prompt 64 --layers 0,1,2,3
import { benchPlan, flags } from './args.js';
import { type Column, finish, printTable } from './table.js';
import { defaultMetrics, medians, runPlan } from '../lab/index.js';
import { breakpoints } from '../lab/measures/breakpoints.js';
import { OVERHEAD_METRICS, overheadByLayer } from '../lab/measures/breakpoints-overhead.js';

const values = flags({ device: 'cuda:0', model: 'synthetic:llama-13b', prompt: '2048', layers: '1,10,20,30,39', reps: '15', warmup: '2', scale: '0.9' }, { optional: ['out'] });

const prompt = Number(values.prompt);
const scale = Number(values.scale);
const plan = benchPlan('breakpoints', values, {
  prompt: { tokens: prompt },
  scale,
  repeat: Number(values.reps),
  warmup: Number(values.warmup),
  metrics: [...defaultMetrics(breakpoints), 'output_change', ...OVERHEAD_METRICS],
}, { name: 'layer', values: values.layers.split(',').map(Number) });
const result = (await runPlan(plan)).experiments[0]!;

// One row per baseline and depth: the medians of its runs; the resume rows with the pause overhead.
const overhead = overheadByLayer(result.rows);
const rows = medians(result.rows, ['baseline', 'layer'], ['resume_ms', 'to_logits_ms', 'bytes_moved', 'pause_ms', 'logit_rel_err', 'output_change']).map((r) => {
  const o = r['baseline'] === 'resume' ? overhead.find((x) => x.layer === r['layer']) : undefined;
  if (!o) return r;
  const { layer: _, ...fields } = o;
  return { ...r, ...fields };
});
const changes = rows.map((r) => r['output_change']).filter((x): x is number => typeof x === 'number');
const out = { ...result, prompt_tokens: prompt, edit: `scale ${scale}`, steer_change: changes.length > 0 ? Math.max(...changes) : null, rows };

const ms = (v: unknown) => (typeof v === 'number' ? v.toFixed(3) : '-');
console.log(`breakpoints on ${result.device}; ${values.model}, ${((result.weight_bytes ?? 0) / 1e9).toFixed(2)} GB weights, a ${prompt}-token prefill paused after layer N and edited (scale ${scale})`);
console.log(
  `uninterrupted pass ${ms(result.uninterrupted_ms)} ms (device); pause + resume overhead at worst ${ms(result['pause_overhead_ms'])} ms device time (limit ${ms(result['pause_overhead_limit_ms'])} ms: ${result['pause_overhead_ok'] ? 'ok' : 'OVER'}), ` +
    `${ms(result['pause_overhead_wall_ms'])} ms wall clock; device gap at worst ${ms(result['pause_gap_ms'])} ms (${result['pause_gap_ok'] ? 'ok' : 'OVER'}); ${ms(result['pause_gap_read_ms'])} ms with the activation read before the resume`,
);
console.log(`check (${result.check?.what}): ${result.check?.pass ? 'passed' : 'FAILED'}, worst ${result.check?.worst}; the edit changes the logits by ${out.steer_change?.toExponential(2)} (rel)`);
const withIqr = (header: string, field: string): Column => ({ header, value: (r) => (typeof r[field] === 'number' ? `${ms(r[field])} (${ms(r[field.replace(/_ms$/, '_iqr_ms')])})` : '') });
printTable(
  ['baseline', 'layer', 'resume_ms', 'to_logits_ms', 'bytes_moved', 'pause_ms', withIqr('overhead ms (IQR)', 'pause_overhead_ms'), withIqr('wall overhead ms (IQR)', 'pause_overhead_wall_ms'),
    'pause_gap_ms', 'pause_gap_read_ms', 'logit_rel_err'],
  rows,
);
finish(values.out, out, result.rows, (r) => `${r['baseline']} after layer ${r['layer']}`);
