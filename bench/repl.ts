// repl.ts: how fast `vramlab repl` gives the prompt back (issue 17: under 10 ms after a pause, on the
// CPU for the tiny fixture). Lines run in process through the REPL's own line runner (no terminal in
// between), timed from the line to its return: `run IDS` (the pass up to the first breakpoint, after
// layer 0), `step` (one layer on, to the next pause), `abort` (the step dropped, the KV cache as
// before), and side by side the same tokens' whole forward without breakpoints (`forward`, the wait
// a user has without pausing). Prints the table and writes
//   {"benchmark": "repl", "device", "commit", "date", "model", "tokens", "repeats",
//    "prompt_back_median_ms", "prompt_back_limit_ms", "rows": [{"line", "runs", "median_ms", "p90_ms", "min_ms", "max_ms"}]}
//
//   node dist/bench/repl.js --device cpu --out bench/results/repl.json
import { resolve } from 'node:path';
import { flags } from './args.js';
import { printTable } from './table.js';
import type { CommandContext } from '../cli/repl/command.js';
import { runLine } from '../cli/repl/line.js';
import { ReplState } from '../cli/repl/state.js';
import { currentCommit, type Row, writeResultsJson } from '../lab/index.js';
import { median, quantile } from '../lab/stats.js';
import { packageRoot } from '../runtime/index.js';

const values = flags({ device: 'cpu', model: 'test/fixtures/tiny-llama-gqa', tokens: '24', repeats: '30' }, { optional: ['out'] });
const LIMIT_MS = 10;
const state = new ReplState(values.device);
const printed: string[] = [];
const ctx: CommandContext = { state, print: (l) => printed.push(l) };
const times = new Map<string, number[]>();

async function timed(key: string | null, line: string): Promise<void> {
  const t0 = performance.now();
  const r = await runLine(line, state, ctx, (e) => printed.push(e));
  const ms = performance.now() - t0;
  if (r !== 'ok') throw new Error(`${line}: ${printed[printed.length - 1] ?? r}`);
  if (key) times.set(key, [...(times.get(key) ?? []), ms]);
}

try {
  await timed(null, `load ${resolve(packageRoot(), values.model)}`); // a relative path: in this package
  const { numLayers: layers, vocabSize } = state.needModel().shape;
  const ids = Array.from({ length: Number(values.tokens) }, (_, i) => (i * 37) % vocabSize).join(',');
  for (let i = 0; i < Number(values.repeats); i++) {
    await timed(null, 'delete');
    await timed('forward', `run ${ids}`);
    await timed(null, `break ${Array.from({ length: layers }, (_, l) => l).join(' ')}`);
    await timed('run', `run ${ids}`);
    for (let l = 1; l < layers; l++) await timed('step', 'step');
    await timed('abort', 'abort');
  }
} finally {
  state.dispose();
}

const rows: Row[] = [...times].map(([line, xs]) => ({ line, runs: xs.length, median_ms: median(xs), p90_ms: quantile(xs, 0.9), min_ms: Math.min(...xs), max_ms: Math.max(...xs) }));
const promptBack = median(times.get('step') ?? []);
console.log(`repl on ${values.device}; ${values.model}, ${values.tokens} tokens, ${values.repeats} repeats; prompt back after a pause (step): median ${promptBack.toFixed(2)} ms (limit ${LIMIT_MS} ms)`);
printTable(['line', 'runs', 'median_ms', 'p90_ms', 'min_ms', 'max_ms'], rows);
if (values.out) {
  writeResultsJson(values.out, {
    benchmark: 'repl',
    device: values.device,
    commit: currentCommit(),
    date: new Date().toISOString(),
    model: values.model,
    tokens: Number(values.tokens),
    repeats: Number(values.repeats),
    prompt_back_median_ms: promptBack,
    prompt_back_limit_ms: LIMIT_MS,
    rows,
  });
}
