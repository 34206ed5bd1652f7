// args.ts: the benchmarks' flags, --name VALUE: each with its default, the optional ones (files:
// --hf, --out) without, and boolean switches; and the plan of a benchmark's one experiment.
import { parseArgs } from 'node:util';
import { buildPlan, modelValue, type Plan, type SettingValue } from '../lab/index.js';

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
