// evaluate.ts: a line that is not a command runs as JavaScript with top-level await, with the REPL's
// objects bound (rt, model, session, paused, logits), so a user computes on a Float32Array directly:
//   vramlab> const lens = await paused.lens()
//   vramlab> lens.argmax()
// An expression's value is printed (util.inspect); a statement runs for its effect. Declarations
// (const, let, var, function, class) persist from line to line, as in node's REPL: a line runs as a
// script in this realm, whose top-level declarations live in the global scope. A line with top-level
// await cannot run as a script, so it is rewritten as node's REPL does: its declarations are hoisted
// into a script of their own (const becomes let) and the rest runs in an async function that assigns
// them and returns the last expression's value.
//
// Ctrl-C stops a line that computes (`while (true) {}`): its synchronous part runs with breakOnSigint,
// the terminal out of raw mode meanwhile so that Ctrl-C is a SIGINT (node's REPL does the same); a line
// that awaits is no longer awaited (what it started goes on).
import { type Node, type Pattern, type Program, parse } from 'acorn';
import { inspect } from 'node:util';
import { Script } from 'node:vm';
import { VramlabError } from '../../runtime/errors.js';
import type { ReplState } from './state.js';

const FILENAME = 'repl';

/** The REPL's objects as read-only globals that always show the current slot (a getter each). */
function bind(state: ReplState): void {
  const slot = () => (state.model ? state.slot() : null);
  const names: Record<string, () => unknown> = {
    rt: () => state.rt,
    model: () => state.model,
    session: () => slot()?.session ?? null,
    paused: () => slot()?.paused ?? null,
    logits: () => slot()?.logits ?? null,
  };
  for (const [name, get] of Object.entries(names)) Object.defineProperty(globalThis, name, { get, configurable: true });
}

const OPTIONS = { ecmaVersion: 'latest', sourceType: 'script' } as const;

/** Why the line is not JavaScript (acorn's "Unexpected token (1:4)"), or null when it is. */
export function syntaxError(code: string): string | null {
  try {
    parse(code, { ...OPTIONS, allowAwaitOutsideFunction: true });
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * Runs a script in this realm; Ctrl-C stops it (ERR_SCRIPT_EXECUTION_INTERRUPTED). A terminal in raw
 * mode (readline's) turns Ctrl-C into a key, which no one reads while the script runs: it is left
 * meanwhile.
 */
function runScript(code: string): unknown {
  const script = new Script(code, { filename: FILENAME });
  const tty = process.stdin.isTTY && process.stdin.isRaw;
  if (tty) process.stdin.setRawMode(false);
  try {
    return script.runInThisContext({ breakOnSigint: true });
  } finally {
    if (tty) process.stdin.setRawMode(true);
  }
}

/** The line as a plain script, or null when it is not one (it has top-level await, or is invalid). */
function asScript(code: string): Program | null {
  try {
    return parse(code, OPTIONS);
  } catch {
    return null;
  }
}

/** The names a declaration pattern binds: `a`, `{ b, c: [d] }`, `...e`, `f = 1`. */
function patternNames(p: Pattern, out: string[]): void {
  switch (p.type) {
    case 'Identifier':
      return void out.push(p.name);
    case 'ObjectPattern':
      return p.properties.forEach((q) => patternNames(q.type === 'Property' ? q.value : q, out));
    case 'ArrayPattern':
      return p.elements.forEach((e) => e && patternNames(e, out));
    case 'RestElement':
      return patternNames(p.argument, out);
    case 'AssignmentPattern':
      return patternNames(p.left, out);
  }
}

/**
 * A line with top-level await as two scripts: `hoisted` declares its top-level names (and holds its
 * function declarations whole); `body` is an async arrow function run for its value.
 */
function rewriteAwait(code: string, program: Program): { hoisted: string; body: string } {
  const hoisted: string[] = [];
  const body: string[] = [];
  const src = (n: Node) => code.slice(n.start, n.end);
  program.body.forEach((stmt, i) => {
    const last = i === program.body.length - 1;
    if (stmt.type === 'VariableDeclaration') {
      const names: string[] = [];
      for (const d of stmt.declarations) {
        patternNames(d.id, names);
        if (d.init) body.push(`;(${src(d.id)} = ${src(d.init)});`);
      }
      if (names.length) hoisted.push(`${stmt.kind === 'var' ? 'var' : 'let'} ${names.join(', ')};`);
    } else if (stmt.type === 'FunctionDeclaration') {
      hoisted.push(src(stmt));
    } else if (stmt.type === 'ClassDeclaration') {
      hoisted.push(`let ${stmt.id.name};`);
      body.push(`;(${stmt.id.name} = ${src(stmt)});`);
    } else if (last && stmt.type === 'ExpressionStatement') {
      body.push(`return (${src(stmt.expression)});`);
    } else {
      body.push(src(stmt));
    }
  });
  return { hoisted: hoisted.join('\n'), body: `(async () => {\n${body.join('\n')}\n})()` };
}

/** Runs `code` and gives its completion value (a promise when the line has top-level await). */
function run(code: string): unknown {
  // `{ a: 1 }` is an object, not a block, as in node's REPL.
  const object = `(${code.replace(/;\s*$/, '')})`;
  if (/^\s*\{/.test(code) && asScript(object)) return runScript(object);
  if (asScript(code)) return runScript(code);
  // Top-level await; a SyntaxError here is the user's, e.g. "Unexpected token (1:4)".
  const { hoisted, body } = rewriteAwait(code, parse(code, { ...OPTIONS, allowAwaitOutsideFunction: true }));
  if (hoisted) runScript(hoisted);
  return runScript(body);
}

/** Awaits `value` (a line's value that is a promise too), unless Ctrl-C comes first: the line is then over, and what it started goes on. */
async function awaited(value: unknown, state: ReplState): Promise<unknown> {
  if (!(value instanceof Promise)) return value;
  const interrupt = state.interruption();
  const stopped = Symbol('interrupted');
  try {
    const v = await Promise.race([value, interrupt.promise.then(() => stopped)]);
    if (v === stopped) {
      value.catch(() => {}); // its failure, if it comes, is no one's now
      throw new VramlabError('VL_ERR_STATE', 'interrupted (Ctrl-C): the line is no longer awaited; what it started goes on');
    }
    return v;
  } finally {
    interrupt.cancel();
  }
}

/** Runs `code`; returns what to print (undefined: nothing). Throws what the code throws. */
export async function evaluate(code: string, state: ReplState): Promise<string | undefined> {
  bind(state);
  let value: unknown;
  try {
    value = await awaited(run(code), state);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED') throw new VramlabError('VL_ERR_STATE', 'interrupted (Ctrl-C): the line stopped');
    throw e;
  }
  return value === undefined ? undefined : inspect(value, { depth: 2, maxArrayLength: 16, colors: false });
}
