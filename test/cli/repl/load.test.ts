// `load` in the REPL opens the new model before it drops the one loaded: a load that fails (a typo, a
// budget too small, a bad flag or value) leaves the model, its sessions and a paused step as they were.
// Lines run in process (runLine, as bench/repl.ts does), so that an error does not end the run.
import { afterAll, describe, expect, it } from 'vitest';
import type { CommandContext } from '../../../cli/repl/command.js';
import { runLine } from '../../../cli/repl/line.js';
import { ReplState } from '../../../cli/repl/state.js';
import { argmax } from '../../../runtime/logits.js';
import { GQA, MHA, reference } from '../../helpers.js';

const state = new ReplState('cpu');
afterAll(() => state.dispose());

/** Runs a line; what it printed, or its error line. */
async function line(text: string): Promise<string[]> {
  const out: string[] = [];
  const ctx: CommandContext = { state, print: (l) => out.push(l) };
  const errors: string[] = [];
  const r = await runLine(text, state, ctx, (e) => errors.push(e));
  return r === 'error' ? errors : out;
}

describe('a failed load', () => {
  const ref = reference(GQA);
  it.each([
    ['a typo', 'load /nonexistent/tiny-llama', 'error: /nonexistent/tiny-llama: no such model directory'],
    ['a budget too small', `load ${MHA} --budget 64KB`, /^error: VRAM budget too small: placing tiny-llama-mha .* of the 62\.50 KiB budget is free; raise the budget/],
    ['a bad budget', `load ${MHA} --budget lots`, /^error: .*"lots"/],
    ['a bad flag', `load ${MHA} --bugdet 1GB`, "error: load: unknown option '--bugdet' (did you mean --budget?); its options: --budget, --placement, --ring, --prefetch, --kv-pool-tokens"],
    ['a bad value', `load ${MHA} --prefetch two`, 'error: --prefetch: "two" is not a whole number'],
    ['a bad placement', `load ${MHA} --placement warp`, /^error: --placement: "warp" is not one of resident, /],
  ])('(%s) leaves the model, its sessions and the paused step as they were', async (_what, text, message) => {
    if (!state.model) {
      await line(`load ${GQA}`);
      await line('session new');
      expect(await line('break 1')).toEqual(['breakpoints after layers 1']);
      expect((await line(`run ${ref.input_ids.join(',')}`))[0]).toMatch(/^paused after layer 1 \(of 0\.\.3\): 24 tokens/);
    }
    const [error, ...more] = await line(text);
    expect(more).toEqual([]);
    if (typeof message === 'string') expect(error).toBe(message);
    else expect(error).toMatch(message);
    expect(state.model?.name).toBe('tiny-llama-gqa');
    expect(await line('sessions')).toEqual(['  0  0 tokens  idle', '* 1  0 tokens  paused after layer 1']);
    expect(await line('break')).toEqual(['breakpoints after layers 1']);
  });

  it('...and the step goes on to the logits of the model as before; a load that works then replaces it', async () => {
    const done = await line('c');
    expect(done[0]).toMatch(/^done: 24 rows of logits/);
    const want = argmax(Float32Array.from(ref.logits[ref.input_ids.length - 1] as number[]));
    expect(done[1]).toMatch(new RegExp(`^ {2}1\\. +${want} `));
    const loaded = await line(`load ${MHA}`);
    expect(loaded).toHaveLength(1);
    expect(loaded[0]).toMatch(/^loaded tiny-llama-mha: 2 layers, hidden 64, vocab 256 on cpu \(\d+ threads?\); session 0$/);
    expect(await line('sessions')).toEqual(['* 0  0 tokens  idle']);
    expect(await line('break')).toEqual(['no breakpoints']);
  });
});
