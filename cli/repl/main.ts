// main.ts: `vramlab repl [MODEL] [--device D] [--script FILE]`: interactive breakpoint inspection. On a
// terminal: a prompt, Tab completion, history in ~/.vramlab_repl_history (VRAMLAB_REPL_HISTORY
// overrides the path), Ctrl-C stops what the line runs (a step at the next layer, a plan at its next
// row, a JavaScript line; a load drops its model when it ends), never the REPL; Ctrl-D or quit ends it.
// With --script FILE, or when stdin is not a terminal: the lines run in order without prompts and the
// first error (FILE:LINE: error: ... for a script's line) ends it with exit status 1. An error the
// user's JavaScript throws later (a timer's, a promise's nobody awaits) is one line too, and the REPL
// goes on with its model and paused steps (a script ends at its next line, with status 1).
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { VramlabError } from '../../runtime/errors.js';
import { fileExists, readFileOrPipe, readStream, readTextFile, writeRegularFile } from '../../runtime/files.js';
import type { CommandContext } from './command.js';
import { complete } from './completion.js';
import { errorLine, runLine } from './line.js';
import { ReplState } from './state.js';

const HISTORY_SIZE = 1000;

export function historyPath(): string {
  return process.env['VRAMLAB_REPL_HISTORY'] || join(homedir(), '.vramlab_repl_history');
}

/** The largest history file and script read (a script may be a pipe: --script <(cmd), or stdin). */
const MAX_HISTORY_BYTES = 16 * 2 ** 20;
const MAX_SCRIPT_BYTES = 16 * 2 ** 20;

/** The history, newest first; a file that cannot be read (a FIFO, a loop of links) is said once, and the REPL goes on without it. */
function readHistory(path: string): string[] {
  try {
    if (!fileExists(path)) return [];
    return readTextFile(path, MAX_HISTORY_BYTES, 'a history file').split('\n').filter(Boolean).slice(-HISTORY_SIZE).reverse();
  } catch (e) {
    if (!(e instanceof VramlabError)) throw e;
    process.stderr.write(`vramlab: no history: ${e.message}\n`);
    return [];
  }
}

function prompt(state: ReplState): string {
  const p = state.model ? state.slot().paused : null;
  return p ? `vramlab:L${p.layer}> ` : 'vramlab> ';
}

/**
 * Progress of a long step on a terminal (stderr): "[layer 12/32] 840 ms", once a step runs 200 ms;
 * returns what erases it (before anything else is printed).
 */
function progress(state: ReplState): () => void {
  const err = process.stderr;
  let drawn = false;
  state.onLayer = err.isTTY
    ? (layer, layers, ms) => {
        if (ms < 200) return;
        err.write(`\r[layer ${layer + 1}/${layers}] ${ms.toFixed(0)} ms (Ctrl-C stops at the next layer)\x1b[K`);
        drawn = true;
      }
    : null;
  return () => {
    if (drawn) err.write('\r\x1b[K');
    drawn = false;
  };
}

/** A line of the REPL's input: its text and, for a script file's, its FILE:LINE. */
interface InputLine {
  text: string;
  where?: string;
}

/** The errors the user's JavaScript threw after its line, and how one is shown (a terminal shows its prompt again). */
interface LateErrors {
  count: number;
  show(line: string): void;
}

/**
 * Errors the user's JavaScript throws after its line (a timer's, a rejection nobody awaits): counted and
 * shown as one line instead of the end of the process, for the REPL's whole life, as node's REPL does.
 */
function catchLateErrors(late: LateErrors): void {
  const onError = (e: unknown) => {
    late.count++;
    late.show(errorLine(e).replace(/^error: /, 'error: uncaught, after its line: '));
  };
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
}

async function runScript(state: ReplState, lines: InputLine[], ctx: CommandContext, late: LateErrors): Promise<number> {
  const onSigint = () => state.interrupt();
  process.on('SIGINT', onSigint);
  try {
    for (const line of lines) {
      const r = await runLine(line.text, state, ctx, (e) => process.stderr.write(`${e}\n`), line.where);
      if (r === 'error' || late.count > 0) return 1;
      if (r === 'quit') return 0;
    }
    return 0;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

function interactive(state: ReplState, ctx: CommandContext, clear: () => void, late: LateErrors): Promise<number> {
  const path = historyPath();
  const rl = createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: true,
    history: readHistory(path),
    historySize: HISTORY_SIZE,
    removeHistoryDuplicates: true,
    completer: (line: string) => complete(line, state),
  });
  let busy = false;
  const queue: string[] = [];
  late.show = (line) => {
    process.stdout.write('\r\x1b[K'); // over the prompt and what was typed after it, drawn again below
    ctx.print(line);
    if (!busy) rl.prompt(true);
  };
  return new Promise((resolve) => {
    let closed = false;
    const finish = () => {
      if (closed) return;
      closed = true;
      rl.close();
      resolve(0);
    };
    const pump = async () => {
      if (busy) return;
      busy = true;
      while (queue.length > 0) {
        const line = queue.shift() as string;
        if (line.trim() !== '') {
          try {
            writeRegularFile(path, `${line}\n`, { append: true });
          } catch {
            /* history is a convenience: an unwritable file is not an error */
          }
        }
        const r = await runLine(line, state, ctx, (e) => ctx.print(e));
        if (r === 'quit') return finish();
      }
      busy = false;
      if (closed) return;
      rl.setPrompt(prompt(state));
      rl.prompt();
    };
    rl.on('line', (line) => {
      queue.push(line);
      void pump();
    });
    rl.on('SIGINT', () => {
      if (busy) {
        state.interrupt();
        clear();
        if (process.stderr.isTTY) process.stderr.write('\r\x1b[K'); // a load's bar, redrawn below
        process.stdout.write(state.running === '' ? '^C\n' : `^C (${state.running ?? 'the line runs to its end'})\n`);
        return;
      }
      rl.write(null, { ctrl: true, name: 'u' }); // drop the line typed so far
      process.stdout.write('^C\n(To exit, press Ctrl-D or type quit)\n');
      rl.prompt();
    });
    rl.on('close', () => {
      if (!closed) {
        closed = true;
        process.stdout.write('\n');
        resolve(0);
      }
    });
    rl.setPrompt(prompt(state));
    rl.prompt();
  });
}

/** `vramlab repl ...`; resolves to the exit status. */
export async function runRepl(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, strict: true, options: { device: { type: 'string' }, script: { type: 'string' }, budget: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  } catch (e) {
    throw new VramlabError('VL_ERR_USAGE', `repl: ${(e as Error).message.split('\n')[0] ?? ''} (see vramlab --help)`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write('usage: vramlab repl [MODEL] [--device cpu|cuda:N] [--budget SIZE] [--script FILE]\n(inside it, help lists the commands)\n');
    return 0;
  }
  if (positionals.length > 1) throw new VramlabError('VL_ERR_USAGE', `repl: unexpected argument "${positionals[1]}" (see vramlab --help)`);
  const state = new ReplState(values.device ?? 'cpu');
  const clear = progress(state);
  const ctx: CommandContext = {
    state,
    print: (l) => {
      clear();
      process.stdout.write(`${l}\n`);
    },
  };
  const first: InputLine[] = positionals[0] ? [{ text: `load ${positionals[0]}${values.budget ? ` --budget ${values.budget}` : ''}` }] : [];
  const late: LateErrors = {
    count: 0,
    show: (line) => {
      clear();
      process.stderr.write(`${line}\n`);
    },
  };
  catchLateErrors(late);
  try {
    if (values.script !== undefined) {
      const script = await readFileOrPipe(values.script, MAX_SCRIPT_BYTES, 'a script');
      const file = values.script;
      const lines = script.toString('utf8').split('\n').map((text, i) => ({ text, where: `${file}:${i + 1}` }));
      return await runScript(state, [...first, ...lines], ctx, late);
    }
    if (!process.stdin.isTTY) {
      const script = await readStream(process.stdin, MAX_SCRIPT_BYTES, 'stdin', 'a script');
      return await runScript(state, [...first, ...script.toString('utf8').split('\n').map((text) => ({ text }))], ctx, late);
    }
    if (first.length > 0 && (await runScript(state, first, ctx, late)) !== 0) return 1;
    return await interactive(state, ctx, clear, late);
  } finally {
    await state.dispose();
    // The user's JavaScript may have left timers or servers running: the process ends with the REPL, as
    // node's REPL's does, once its exit status is set (at once anyway when nothing else holds it).
    setImmediate(() => process.exit()).unref();
  }
}

