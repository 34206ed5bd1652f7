// line.ts: one REPL line run: a command (commands.ts) or JavaScript (evaluate.ts); an error becomes one
// line ("error: MESSAGE": a VramlabError's message, a JavaScript error's name and message, no stack).
import { VramlabError } from '../../runtime/errors.js';
import { type CommandContext, findCommand } from './commands.js';
import { evaluate } from './evaluate.js';
import type { ReplState } from './state.js';

/** The words of a line: whitespace-separated, "quoted" or 'quoted' words kept whole (quotes removed). */
export function splitWords(line: string): string[] {
  const out: string[] = [];
  for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g)) out.push(m[1] ?? m[2] ?? m[3] ?? '');
  return out;
}

export type LineResult = 'ok' | 'error' | 'quit';

/** The one-line message of an error a line threw. */
export function errorLine(e: unknown): string {
  if (e instanceof VramlabError) return `error: ${e.message}`;
  if (e instanceof Error) return `error: ${e.name}: ${e.message.split('\n')[0] ?? ''}`;
  return `error: ${String(e)}`;
}

/** Runs one line; prints its output with ctx.print and its error with `printError`. */
export async function runLine(line: string, state: ReplState, ctx: CommandContext, printError: (line: string) => void): Promise<LineResult> {
  const text = line.trim();
  if (text === '' || text.startsWith('#')) return 'ok';
  const word = /^\S+/.exec(text)?.[0] ?? '';
  if (word === 'quit' || word === 'exit') return 'quit';
  try {
    const cmd = findCommand(word);
    if (cmd) await cmd.run(splitWords(text).slice(1), ctx, text.slice(word.length));
    else {
      const shown = await evaluate(text, state);
      if (shown !== undefined) ctx.print(shown);
    }
    return 'ok';
  } catch (e) {
    printError(errorLine(e));
    return 'error';
  }
}
