// line.ts: one REPL line run: a command (commands.ts) or JavaScript (evaluate.ts); an error becomes one
// line ("error: MESSAGE": a VramlabError's message, a JavaScript error's name and message, no stack),
// prefixed with the script's FILE:LINE when the line is one of a --script file's. A line that reads as
// a command (a word, then an argument) and is not JavaScript either is an unknown command, with the
// nearest command named.
import { suggest } from '../../dsl/settings.js';
import { VramlabError } from '../../runtime/errors.js';
import type { CommandContext } from './command.js';
import { commandWords, findCommand } from './commands.js';
import { evaluate, syntaxError } from './evaluate.js';
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

/** Words that begin JavaScript, never a command: a line of them that does not parse is a JavaScript error. */
const JS_WORDS = new Set(['async', 'await', 'class', 'const', 'delete', 'do', 'for', 'function', 'if', 'import', 'let', 'new', 'return', 'switch', 'throw', 'try', 'typeof', 'var', 'void', 'while', 'yield']);

/** A word, then nothing or an argument (not a JavaScript operator): how a command line reads. */
const COMMAND_LIKE = /^([A-Za-z][\w-]*)(?:\s+[\w"'./~-]|\s*$)/;

/** The error of a line that names no command: unknown (with the nearest command) when it reads as one. */
function unknownCommand(text: string, jsError: string): VramlabError | null {
  const word = COMMAND_LIKE.exec(text)?.[1];
  if (word === undefined || JS_WORDS.has(word)) return null;
  const words = commandWords();
  const hint = suggest(word, words);
  // A lone word is an identifier to JavaScript: called a command only when one is near (typos of them).
  if (word === text && (hint === '' || word.length < 4)) return null;
  return new VramlabError('VL_ERR_USAGE', `unknown command "${word}"${hint}: help lists the commands (as JavaScript: ${jsError})`);
}

/**
 * Runs one line; prints its output with ctx.print and its error with `printError`. `where`, the line's
 * FILE:LINE in a script, begins its error.
 */
export async function runLine(line: string, state: ReplState, ctx: CommandContext, printError: (line: string) => void, where?: string): Promise<LineResult> {
  const text = line.trim();
  if (text === '' || text.startsWith('#')) return 'ok';
  const word = /^\S+/.exec(text)?.[0] ?? '';
  if (word === 'quit' || word === 'exit') return 'quit';
  const cmd = findCommand(word);
  state.interrupted = false;
  state.running = cmd ? (cmd.interrupt ?? null) : ''; // a JavaScript line says itself what Ctrl-C did
  try {
    if (cmd) await cmd.run(splitWords(text).slice(1), ctx, text.slice(word.length));
    else {
      const notJs = syntaxError(text);
      const unknown = notJs === null ? null : unknownCommand(text, `SyntaxError: ${notJs}`);
      if (unknown) throw unknown;
      let shown: string | undefined;
      try {
        shown = await evaluate(text, state);
      } catch (e) {
        // `contnue`: a command's typo, unless the line's first word is defined after all.
        const undefinedWord = e instanceof ReferenceError && e.message === `${COMMAND_LIKE.exec(text)?.[1]} is not defined`;
        throw (undefinedWord && unknownCommand(text, `ReferenceError: ${e.message}`)) || e;
      }
      if (shown !== undefined) ctx.print(shown);
    }
    return 'ok';
  } catch (e) {
    printError(where ? `${where}: ${errorLine(e)}` : errorLine(e));
    return 'error';
  } finally {
    state.running = null;
  }
}
