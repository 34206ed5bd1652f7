// The decode measure's baselines agree token for token; generate times the tokens after the first.
import { describe, expect, it } from 'vitest';
import { buildPlan } from '../../../lab/build.js';
import { runPlan } from '../../../lab/runner.js';
import { modelValue } from '../../../lab/settings.js';

describe('decode', () => {
  it('generate, kv-cache and stateless: the same tokens, per-token times and prefill times for each', async () => {
    const plan = buildPlan([{ name: 'd', measure: 'decode', settings: { model: modelValue('synthetic:tiny'), prompt: { tokens: 10 }, new_tokens: 6, sessions: 2, repeat: 1, warmup: 0 } }]);
    expect(plan.experiments[0]!.steps.map((s) => s.baseline)).toEqual(['kv-cache', 'stateless', 'generate']);
    const e = (await runPlan(plan)).experiments[0]!;
    expect(e.rows.map((r) => [r['baseline'], r['tokens_generated'], r['token_match'], r['status']])).toEqual([
      ['kv-cache', 12, null, 'ok'], // the first run of the point: what the others are compared with
      ['stateless', 12, true, 'ok'],
      ['generate', 12, true, 'ok'],
    ]);
    for (const r of e.rows) {
      expect(r['per_token_ms']).toBeGreaterThan(0);
      expect(r['prefill_ms']).toBeGreaterThan(0);
      expect(r['total_ms']).toBeGreaterThan(r['prefill_ms'] as number);
    }
    expect(e.check).toMatchObject({ pass: true, worst: null });
  });

  it('generate of one token has no per-token time', async () => {
    const plan = buildPlan([{ name: 'd', measure: 'decode', settings: { model: modelValue('synthetic:tiny'), prompt: { tokens: 10 }, new_tokens: 1, baselines: ['generate'], repeat: 1, warmup: 0 } }]);
    const [row] = (await runPlan(plan)).experiments[0]!.rows;
    expect(row).toMatchObject({ baseline: 'generate', tokens_generated: 1, per_token_ms: null, h2d_bytes_per_token: null, status: 'ok' });
  });
});
