// How fast the REPL gives the prompt back after a pause, in process (no terminal in between): a step
// line (one layer of the tiny fixture's 24 tokens on the CPU, the pause, the report printed) under 10 ms.
import { afterAll, expect, it } from 'vitest';
import type { CommandContext } from '../../../cli/repl/commands.js';
import { runLine } from '../../../cli/repl/line.js';
import { ReplState } from '../../../cli/repl/state.js';
import { GQA, reference } from '../../helpers.js';

const state = new ReplState('cpu');
afterAll(() => state.dispose());

it('gives the prompt back after a pause in under 10 ms (median of 30 steps)', async () => {
  const lines: string[] = [];
  const ctx: CommandContext = { state, print: (l) => lines.push(l) };
  const run = async (line: string) => {
    const t0 = performance.now();
    expect(await runLine(line, state, ctx, (e) => lines.push(e))).toBe('ok');
    return performance.now() - t0;
  };
  await run(`load ${GQA}`);
  await run('break 0');
  const ids = reference(GQA).input_ids.join(',');
  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    await run(`run ${ids}`);
    for (let l = 1; l < 4; l++) times.push(await run('step'));
    await run('abort');
  }
  expect(lines.filter((l) => l.startsWith('paused after layer 3'))).toHaveLength(10);
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] as number;
  console.log(`prompt back after a pause, in process: median ${median.toFixed(2)} ms, min ${(sorted[0] as number).toFixed(2)}, max ${(sorted[sorted.length - 1] as number).toFixed(2)} (${times.length} steps)`);
  expect(median).toBeLessThan(10);
});
