// buildPlan: experiments built in code (notebooks, the benchmarks' flags) get the rules a .vlab file
// gets when it is read: a value outside its setting's range, of a fraction where a whole number goes,
// NaN, or not one of a choice's options is refused with one line naming the experiment and the setting,
// swept values too; values within the rules build as before.
import { describe, expect, it } from 'vitest';
import { buildExperimentSteps, buildPlan } from '../../lab/build.js';
import type { AgentsStep } from '../../lab/measures/agents.js';
import { modelValue, type SettingValue } from '../../lab/settings.js';
import { VramlabError } from '../../runtime/errors.js';

function agentsPlan(settings: Record<string, SettingValue>, sweep?: { name: string; values: SettingValue[] }) {
  return buildPlan([{ name: 'a', measure: 'agents', settings: { model: modelValue('synthetic:tiny'), ...settings }, sweeps: sweep ? [sweep] : [] }]);
}

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(VramlabError);
    expect((e as VramlabError).code).toBe('VL_ERR_INVALID_ARGUMENT');
    return (e as Error).message;
  }
  throw new Error('not refused');
}

describe('buildPlan: the settings\' rules for values set in code', () => {
  it.each<[string, Record<string, SettingValue>, string]>([
    ['an integer under its minimum', { agents: 0 }, 'experiment a, agents: agents must be from 1 to 4096, got 0'],
    ['an integer over its maximum', { agents: 5000 }, 'experiment a, agents: agents must be from 1 to 4096, got 5000'],
    ['NaN (a flag that was not a number)', { agents: Number('x') }, 'experiment a, agents: agents must be a whole number, got NaN'],
    ['a fraction of tokens', { new_tokens: 1.5 }, 'experiment a, new_tokens: new_tokens must be a whole number, got 1.5'],
    ['a size under a byte', { budget: 0 }, 'experiment a, budget: budget must be at least 1 byte, got 0'],
    ['an infinite size', { budget: Infinity }, 'experiment a, budget: budget must be at least 1 byte, got Infinity'],
    ['a duration of 0', { act: 0 }, 'experiment a, act: act must be longer than 0 ms, got 0'],
    ['a prompt of no tokens', { prompt: { tokens: 0 } }, "experiment a, prompt: prompt's token count must be at least 1, got 0"],
    ['a negative repeat', { repeat: -1 }, 'experiment a, repeat: repeat must be from 1 to 10000, got -1'],
  ])('refuses %s', (_, settings, message) => {
    expect(refusal(() => agentsPlan(settings))).toBe(message);
  });

  it('refuses a swept value out of range, naming the sweep\'s setting', () => {
    expect(refusal(() => agentsPlan({}, { name: 'agents', values: [1, 2, -4] }))).toBe('experiment a, agents: agents must be from 1 to 4096, got -4');
  });

  it('refuses a choice that is not one of its options', () => {
    const plan = () => buildPlan([{ name: 'd', measure: 'decode', settings: { model: modelValue('synthetic:tiny'), placement: 'everywhere' } }]);
    expect(refusal(plan)).toMatch(/^experiment d, placement: placement must be one of resident, stream, .*, got everywhere$/);
  });

  it('builds values within the rules, at their limits', () => {
    const steps = agentsPlan({ new_tokens: 1, act: 0.5, budget: 1, prompt: { tokens: 1 } }, { name: 'agents', values: [1, 4096] }).experiments[0]!.steps as AgentsStep[];
    expect(steps.map((s) => [s.baseline, s.agents, s.newTokens, s.actMs])).toEqual([
      ['shared', 1, 1, 0.5],
      ['keep-alive', 1, 1, 0.5],
      ['serverless', 1, 1, 0.5],
      ['shared', 4096, 1, 0.5],
      ['keep-alive', 4096, 1, 0.5],
      ['serverless', 4096, 1, 0.5],
    ]);
  });
});

describe('sweeps: at most max_points, their steps made as they are read', () => {
  const sessions = (n: number) => ({ name: 'sessions', values: Array.from({ length: n }, (_, i) => i + 1) });
  const tokens = (n: number) => ({ name: 'new_tokens', values: Array.from({ length: n }, (_, i) => i + 1) });
  const decode = (settings: Record<string, SettingValue>, sweeps: { name: string; values: SettingValue[] }[]) => ({ name: 'd', measure: 'decode', settings: { model: modelValue('synthetic:tiny'), prompt: { tokens: 4 }, baselines: ['kv-cache'], ...settings }, sweeps });

  it('refuses a product of sweeps over max_points at the sweep that passes it, counted exactly at a trillion', () => {
    expect(refusal(() => buildPlan([decode({}, [sessions(200), tokens(100)])]))).toBe(
      'experiment d, new_tokens: the sweeps make 20,000 points (sessions 200 x new_tokens 100), more than max_points = 10,000: sweep fewer values, or raise max_points (at most 1,000,000)',
    );
    const big = { name: 'kv_pool', values: Array.from({ length: 1000 }, (_, i) => i + 4096) };
    expect(refusal(() => buildPlan([decode({ max_points: 1_000_000 }, [sessions(1000), tokens(1000), big])]))).toMatch(/^experiment d, kv_pool: the sweeps make 1,000,000,000 points .* more than max_points = 1,000,000/);
    expect(refusal(() => buildPlan([decode({ max_points: 2_000_000 }, [])]))).toBe('experiment d, max_points: max_points must be from 1 to 1000000, got 2000000');
  });

  it('max_points raises the limit; the steps iterate anew, the same as the array, in the sweeps\' order', () => {
    const def = decode({ max_points: 20_000 }, [sessions(200), tokens(100)]);
    const lazy = buildExperimentSteps(def);
    const first = [...lazy.steps];
    expect(first).toHaveLength(20_000);
    expect([...lazy.steps]).toEqual(first);
    expect(buildPlan([def]).experiments[0]!.steps).toEqual(first);
    expect(first.slice(0, 3).map((s) => s.point)).toEqual([{ sessions: 1, new_tokens: 1 }, { sessions: 1, new_tokens: 2 }, { sessions: 1, new_tokens: 3 }]);
    expect(first[100]!.point).toEqual({ sessions: 2, new_tokens: 1 });
  });
});
