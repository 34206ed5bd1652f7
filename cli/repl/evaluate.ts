// evaluate.ts: a line that is not a command runs as JavaScript with top-level await, with the REPL's
// objects bound (rt, model, session, paused, logits), so a user computes on a Float32Array directly:
//   vramlab> (await paused.lens()).argmax()
// An expression's value is printed (util.inspect); a statement runs for its effect.
import { inspect } from 'node:util';
import type { ReplState } from './state.js';

type AsyncFn = (...args: unknown[]) => Promise<unknown>;
const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (...args: string[]) => AsyncFn;
const NAMES = ['rt', 'model', 'session', 'paused', 'logits'];

function compile(code: string): AsyncFn {
  try {
    return new AsyncFunction(...NAMES, `return (${code}\n);`);
  } catch {
    return new AsyncFunction(...NAMES, code); // a statement (its SyntaxError, if any, is the user's)
  }
}

/** Runs `code`; returns what to print (undefined: nothing). Throws what the code throws. */
export async function evaluate(code: string, state: ReplState): Promise<string | undefined> {
  const slot = state.model ? state.slot() : null;
  const value = await compile(code)(state.rt, state.model, slot?.session ?? null, slot?.paused ?? null, slot?.logits ?? null);
  return value === undefined ? undefined : inspect(value, { depth: 2, maxArrayLength: 16, colors: false });
}
