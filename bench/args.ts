// args.ts: the benchmarks' flags, --name VALUE: each with its default, the optional ones (files:
// --hf, --out) without, and boolean switches.
import { parseArgs } from 'node:util';

export function flags<S extends string, O extends string = never, B extends string = never>(
  strings: Record<S, string>,
  more: { optional?: readonly O[]; booleans?: Record<B, boolean> } = {},
): Record<S, string> & Partial<Record<O, string>> & Record<B, boolean> {
  const options: Record<string, { type: 'string' | 'boolean'; default?: string | boolean }> = {};
  for (const [name, value] of Object.entries<string>(strings)) options[name] = { type: 'string', default: value };
  for (const name of more.optional ?? []) options[name] = { type: 'string' };
  for (const [name, value] of Object.entries<boolean>(more.booleans ?? ({} as Record<B, boolean>))) options[name] = { type: 'boolean', default: value };
  return parseArgs({ options }).values as Record<S, string> & Partial<Record<O, string>> & Record<B, boolean>;
}
