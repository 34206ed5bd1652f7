// args.ts: the benchmarks' flags, --name VALUE: each with its default, the optional ones (files:
// --hf, --out) without, and boolean switches; --help lists them. A flag the benchmark does not take, a
// flag without its value, or a user error later in the run (a VramlabError: a bad size, a setting out of
// its range, an impossible budget) ends it with one line on stderr and status 1, as the CLI does.
// And the plan of a benchmark's one experiment.
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { buildPlan, modelValue, type Plan, type SettingValue } from '../lab/index.js';
import { VramlabError } from '../runtime/errors.js';

const script = basename(process.argv[1] ?? 'bench');

function fail(message: string): never {
  console.error(`${script}: ${message}`);
  process.exit(1);
}

export function flags<S extends string, O extends string = never, B extends string = never>(
  strings: Record<S, string>,
  more: { optional?: readonly O[]; booleans?: Record<B, boolean> } = {},
): Record<S, string> & Partial<Record<O, string>> & Record<B, boolean> {
  const options: Record<string, { type: 'string' | 'boolean'; default?: string | boolean }> = {};
  for (const [name, value] of Object.entries<string>(strings)) options[name] = { type: 'string', default: value };
  for (const name of more.optional ?? []) options[name] = { type: 'string' };
  for (const [name, value] of Object.entries<boolean>(more.booleans ?? ({} as Record<B, boolean>))) options[name] = { type: 'boolean', default: value };
  const usage = Object.entries(options).map(([name, o]) => `--${name}${o.type === 'string' ? ' VALUE' : ''}${o.default !== undefined && o.type === 'string' ? ` (default ${String(o.default)})` : ''}`);
  if (process.argv.slice(2).some((a) => a === '--help' || a === '-h')) {
    console.log(`usage: node ${process.argv[1] ?? script} [options]\n  ${usage.join('\n  ')}`);
    process.exit(0);
  }
  // A user error thrown later (the benchmarks run at their top level) is one line too; others keep their stack.
  process.on('uncaughtException', (e) => {
    if (e instanceof VramlabError) fail(e.message);
    console.error(e);
    process.exit(1);
  });
  try {
    return parseArgs({ options }).values as Record<S, string> & Partial<Record<O, string>> & Record<B, boolean>;
  } catch (e) {
    // parseArgs's messages end in a hint to use "--" for positionals, which a benchmark does not take.
    return fail(`${(e as Error).message.split('. ')[0]}; options: ${Object.keys(options).map((n) => `--${n}`).join(', ')} (--help for their defaults)`);
  }
}

/**
 * The plan of one experiment of `measure`, named after it, on the --device and --model of `values`,
 * with `settings` and at most one sweep.
 */
export function benchPlan(
  measure: string,
  values: { device: string; model: string },
  settings: Record<string, SettingValue>,
  sweep?: { name: string; values: readonly SettingValue[] },
): Plan {
  return buildPlan([{ name: measure, measure, settings: { device: values.device, model: modelValue(values.model), ...settings }, sweeps: sweep ? [sweep] : [] }]);
}
