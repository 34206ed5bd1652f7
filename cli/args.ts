// args.ts: the command line's flag readers, shared by its commands: each bad value is a one-line
// VL_ERR_USAGE error naming the flag and what it must be.
import { suggest } from '../dsl/settings.js';
import { VramlabError } from '../runtime/errors.js';

export function usage(message: string): VramlabError {
  return new VramlabError('VL_ERR_USAGE', `${message} (see vramlab --help)`);
}

/**
 * A node:util parseArgs error as one line: an unknown option named alone (Node's own text goes on
 * with advice about '--' that ends in an unbalanced quote), with the nearest of `options` (parseArgs's
 * options) when one is near, pointing to the command's own help.
 */
export function argsError(e: unknown, command?: string, options?: Readonly<Record<string, unknown>>): VramlabError {
  return new VramlabError('VL_ERR_USAGE', `${argsErrorText(e, options)} (see vramlab ${command ? `${command} ` : ''}--help)`);
}

/** The one line of argsError, without the pointer to the help. */
export function argsErrorText(e: unknown, options?: Readonly<Record<string, unknown>>): string {
  const message = (e as Error).message;
  const unknown = /^Unknown option '([^']*)'/.exec(message);
  if (!unknown) return message.split('\n')[0] ?? 'bad arguments';
  const name = unknown[1] as string;
  return `unknown option '${name}'${options && name.startsWith('--') ? suggest(name, Object.keys(options).map((o) => `--${o}`)) : ''}`;
}

/**
 * Token ids as the command line and the REPL take them: non-negative integers separated by commas or
 * spaces (3,17,42 or 3 17 42); an empty one (1,,2) is refused. `what` names where the text came from
 * (--ids, FILE:LINE, run), `form` what it should be.
 */
export function parseIds(text: string, what: string, form = 'non-negative integers separated by commas or spaces'): number[] {
  const parts = text.trim().split(/\s*,\s*|\s+/);
  const bad = parts.find((p) => !/^\d+$/.test(p) || !Number.isSafeInteger(Number(p)));
  if (bad !== undefined) throw new VramlabError('VL_ERR_USAGE', `${what}: "${bad}" is not a token id (${form})`);
  return parts.map(Number);
}

export function parseCount(text: string | undefined, name: string, min = 0): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  // Counts cross the ABI as int32/int64: bound them here so that none wraps (4294967297 became 1).
  if (!/^\s*\d+\s*$/.test(text) || !Number.isInteger(v) || v < min)
    throw usage(`${name}: "${text}" must be a ${min > 0 ? 'positive' : 'non-negative'} integer`);
  if (v > 2 ** 31 - 1) throw usage(`${name}: "${text}" must be at most ${2 ** 31 - 1}`);
  return v;
}

/** A finite number accepted by `ok` (what it must be: `must`, e.g. ">= 0", "in (0, 1]"). */
export function parseNumber(text: string | undefined, name: string, must: string, ok: (v: number) => boolean): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || !ok(v)) throw usage(`${name}: "${text}" must be a number ${must}`);
  return v;
}

/** An integer of either sign, at most 2^53 - 1 in size (a seed). */
export function parseInteger(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (!/^\s*-?\d+\s*$/.test(text) || !Number.isSafeInteger(v)) throw usage(`${name}: "${text}" must be an integer (at most 2^53 - 1 in size)`);
  return v;
}
