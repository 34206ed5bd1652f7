// Session.generate's options (runtime/generation.ts): stop tokens as transformers stops at EOS, the
// model's EOS ids from its files, sampling (temperature, top-k, top-p) with a seeded PRNG checked
// against its reference outputs, and the options' errors.
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type GenerateOptions, type Logits, type Model, Runtime, sampler, splitmix64, uniform, VramlabError, xoshiro128ss } from '../../runtime/index.js';
import { cpuRuntime, editConfig, GQA, MHA, reference, Temps } from '../helpers.js';

const temps = new Temps();
const rt = await cpuRuntime(temps);
const ref = reference(GQA);
const gqa = await rt.loadModel(GQA);

async function generate(model: Model, n: number, options?: GenerateOptions, ids = ref.input_ids): Promise<number[]> {
  const s = model.createSession();
  try {
    return await s.generate(ids, n, options);
  } finally {
    s.dispose();
  }
}

/** The logits before each new token: row i is what token i was picked from. */
async function stepLogits(tokens: number[]): Promise<Float32Array[]> {
  const s = gqa.createSession();
  try {
    const all = (await s.forward([...ref.input_ids, ...tokens], { logits: 'all' })) as Logits;
    return tokens.map((_, i) => all.row(ref.input_ids.length - 1 + i));
  } finally {
    s.dispose();
  }
}

/** A copy of the GQA fixture whose generation_config.json says `eos` (undefined: no eos_token_id). */
function withEos(eos: unknown, configEos?: unknown): string {
  const dir = temps.copy(GQA);
  const gen: Record<string, unknown> = { bos_token_id: 1 };
  if (eos !== undefined) gen['eos_token_id'] = eos;
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify(gen));
  if (configEos !== undefined) editConfig(dir, (c) => (c['eos_token_id'] = configEos));
  return dir;
}

describe('the PRNG: xoshiro128** seeded by SplitMix64', () => {
  it('SplitMix64 gives the reference outputs of seed 0', () => {
    const next = splitmix64(0n);
    expect([next(), next()].map((v) => v.toString(16))).toEqual(['e220a8397b1dcdaf', '6e789e6aa1b965f4']);
  });

  it("xoshiro128** gives the reference implementation's outputs for a state", () => {
    // state and outputs of prng.di.unimi.it/xoshiro128starstar.c, as recorded by edorfaus/xoshiro-6502's test data
    const next = xoshiro128ss(Uint32Array.of(0x964d4a0c, 0xd40ab895, 0xad7fdecb, 0x3006f0f0));
    expect([next(), next(), next(), next()]).toEqual([0xf1391922, 0x6fe53806, 0xa5be2840, 0xf510ee70]);
  });
});

describe('sampler: the distribution it draws from', () => {
  const draws = (o: GenerateOptions, row: number[], n = 20000) => {
    const pick = sampler(o);
    const counts = row.map(() => 0);
    for (let i = 0; i < n; i++) (counts[pick(Float32Array.from(row))] as number)++;
    return counts.map((c) => c / n);
  };

  it('softmax(logits / temperature): probabilities 1:3 at temperature 1, 1:9 at 0.5', () => {
    const [a, b] = draws({ temperature: 1, seed: 1 }, [0, Math.log(3)]);
    expect(Math.abs((b as number) - 0.75)).toBeLessThan(0.01);
    expect(Math.abs((a as number) - 0.25)).toBeLessThan(0.01);
    expect(Math.abs((draws({ temperature: 0.5, seed: 2 }, [0, Math.log(3)])[1] as number) - 0.9)).toBeLessThan(0.01);
  });

  it('top-p keeps a token while the probability before it is below p (transformers TopPLogitsWarper)', () => {
    const row = [Math.log(0.5), Math.log(0.3), Math.log(0.2)];
    expect(draws({ temperature: 1, topP: 0.5, seed: 3 }, row, 2000)).toEqual([1, 0, 0]);
    const p = draws({ temperature: 1, topP: 0.6, seed: 4 }, row);
    expect(p[2]).toBe(0);
    expect(Math.abs((p[0] as number) - 0.625)).toBeLessThan(0.01); // 0.5 / (0.5 + 0.3)
  });

  it('top-k keeps the k most likely, renormalized', () => {
    const p = draws({ temperature: 1, topK: 2, seed: 5 }, [Math.log(0.2), Math.log(0.5), Math.log(0.3)]);
    expect(p[0]).toBe(0);
    expect(Math.abs((p[1] as number) - 0.625)).toBeLessThan(0.01);
  });

  it('draws what a full sort of the row would keep (rows with ties, every option)', () => {
    // The reference: every id sorted (logit down, id up), the top k, then the top-p prefix; the draw over
    // the kept ids in id order, with the same PRNG.
    const reference = (o: GenerateOptions) => {
      const random = uniform(o.seed as number);
      const T = o.temperature as number;
      return (row: Float32Array) => {
        const max = Math.max(...row);
        const w = (v: number) => Math.exp((v - max) / T);
        const order = Array.from(row.keys()).sort((a, b) => (row[b] as number) - (row[a] as number) || a - b);
        let kept = order.slice(0, o.topK ?? row.length);
        if (o.topP !== undefined) {
          const total = o.topK === undefined ? row.reduce((a, v) => a + w(v), 0) : kept.reduce((a, i) => a + w(row[i] as number), 0);
          let above = 0, m = 0;
          while (m < kept.length && (m === 0 || above < o.topP * total)) above += w(row[kept[m++] as number] as number);
          kept = kept.slice(0, m);
        }
        const ids = kept.sort((a, b) => a - b);
        let u = random() * ids.reduce((a, i) => a + w(row[i] as number), 0);
        for (const i of ids) if ((u -= w(row[i] as number)) < 0) return i;
        return ids[ids.length - 1] as number;
      };
    };
    const next = uniform(11);
    const rows = Array.from({ length: 8 }, (_, r) => Float32Array.from({ length: 3000 }, () => Math.round(next() * (r % 2 ? 40 : 4000)) / 10)); // odd rows: many ties
    for (const o of [{ topK: 1 }, { topK: 7 }, { topK: 2999 }, { topP: 0.3 }, { topP: 0.9 }, { topP: 0.999 }, { topK: 50, topP: 0.6 }, {}]) {
      const options = { temperature: 0.7, seed: 5, ...o };
      const fast = sampler(options), slow = reference(options);
      for (const row of rows) for (let i = 0; i < 20; i++) expect(fast(row), JSON.stringify(o)).toBe(slow(row));
    }
  });

  it('temperature 0 is the argmax, ties to the lower id', () => {
    expect(sampler({ temperature: 0, topK: 3, seed: 1 })(Float32Array.of(1, 5, 5, 2))).toBe(1);
    expect(sampler({ temperature: 1, topK: 1, seed: 1 })(Float32Array.of(1, 5, 5, 2))).toBe(1);
  });
});

describe('Session.generate options on the fixture', () => {
  it('greedy through options (temperature 0, no stop) is the transformers greedy continuation', async () => {
    expect(await generate(gqa, 24, { temperature: 0 })).toEqual(ref.greedy);
  });

  it('stops at the first stop token, which it returns last (as transformers stops at EOS)', async () => {
    expect(ref.greedy.slice(0, 3)).toEqual([339, 339, 216]);
    expect(await generate(gqa, 24, { stopAt: [216] })).toEqual([339, 339, 216]);
    expect(await generate(gqa, 24, { stopAt: [511, 111] })).toEqual([339, 339, 216, 111]);
    expect(await generate(gqa, 24, { stopAt: [] })).toEqual(ref.greedy);
  });

  it('calls onToken with each token and its index, as it is picked', async () => {
    const seen: [number, number][] = [];
    const tokens = await generate(gqa, 5, { onToken: (t, i) => seen.push([t, i]) });
    expect(seen).toEqual(tokens.map((t, i) => [t, i]));
    expect(tokens).toEqual(ref.greedy.slice(0, 5));
  });

  it('the same seed gives the same tokens, another seed others (temperature 1)', async () => {
    const a = await generate(gqa, 16, { temperature: 1, seed: 42 });
    expect(await generate(gqa, 16, { temperature: 1, seed: 42 })).toEqual(a);
    expect(await generate(gqa, 16, { temperature: 1, seed: 43 })).not.toEqual(a);
    expect(a).not.toEqual(ref.greedy.slice(0, 16));
  });

  it('top-k 1 and a tiny top-p are greedy', async () => {
    expect(await generate(gqa, 24, { temperature: 1, topK: 1, seed: 7 })).toEqual(ref.greedy);
    expect(await generate(gqa, 24, { temperature: 1, topP: 1e-9, seed: 7 })).toEqual(ref.greedy);
  });

  it('with top-k 3 every token is among the 3 most likely of its step', async () => {
    const tokens = await generate(gqa, 16, { temperature: 2, topK: 3, seed: 9 });
    const rows = await stepLogits(tokens);
    tokens.forEach((t, i) => {
      const row = rows[i] as Float32Array;
      expect(row.filter((v) => v > (row[t] as number)).length).toBeLessThan(3);
    });
    expect(tokens).not.toEqual(ref.greedy.slice(0, 16));
  });

  it('rejects bad options, naming each', async () => {
    const s = gqa.createSession();
    const cases: [GenerateOptions, string][] = [
      [{ temperature: -1 }, 'temperature must be a finite number >= 0, got -1'],
      [{ temperature: Infinity }, 'temperature must be a finite number >= 0, got Infinity'],
      [{ topK: 0 }, 'topK must be a positive integer, got 0'],
      [{ topK: 1.5 }, 'topK must be a positive integer, got 1.5'],
      [{ topP: 0 }, 'topP must be a number in (0, 1], got 0'],
      [{ topP: 1.01 }, 'topP must be a number in (0, 1], got 1.01'],
      [{ seed: 0.5 }, 'seed must be an integer (at most 2^53 - 1 in size), got 0.5'],
      [{ stopAt: [-1] }, 'stopAt: -1 is not a token id (a non-negative integer)'],
      // an id the model never picks could never stop it
      [{ stopAt: [2, 512] }, 'stopAt: 512 is outside the vocabulary (0..511): the model never picks it, so it would never stop'],
    ];
    for (const [o, message] of cases) await expect(s.generate([1, 2], 2, o)).rejects.toThrow(message);
    expect(s.tokens).toBe(0);
    s.dispose();
  });
});

describe("Model.eosTokenIds: generation_config.json's eos_token_id, else config.json's", () => {
  it('the fixture: 2 (both files); a synthetic model: none', async () => {
    expect(gqa.eosTokenIds).toEqual([2]);
    expect((await rt.loadModel(MHA)).eosTokenIds).toEqual([2]);
    expect((await rt.loadModel('synthetic:tiny')).eosTokenIds).toEqual([]);
  });

  it('a list, one id, null, and config.json when generation_config.json has none', async () => {
    expect((await rt.loadModel(withEos([511, 216]))).eosTokenIds).toEqual([511, 216]);
    expect((await rt.loadModel(withEos(216, 2))).eosTokenIds).toEqual([216]);
    expect((await rt.loadModel(withEos(null, 2))).eosTokenIds).toEqual([]);
    expect((await rt.loadModel(withEos(undefined, [111, 2]))).eosTokenIds).toEqual([111, 2]);
  });

  it('a bad eos_token_id names the file', async () => {
    const dir = withEos('</s>');
    await expect(rt.loadModel(dir)).rejects.toThrow(`${join(dir, 'generation_config.json')}: eos_token_id must be a token id or a list of token ids, got "</s>"`);
    const broken = withEos(2);
    writeFileSync(join(broken, 'generation_config.json'), '{"eos_token_id": ');
    await expect(rt.loadModel(broken)).rejects.toThrow(`${join(broken, 'generation_config.json')}: not JSON`);
  });

  it('a generation_config.json that cannot be read fails before the weights load, at once', async () => {
    const dir = withEos(2);
    const path = join(dir, 'generation_config.json');
    rmSync(path);
    expect(spawnSync('mkfifo', [path]).status).toBe(0);
    const own = await Runtime.open({ device: 'cpu' });
    try {
      await expect(own.loadModel(dir)).rejects.toThrow(new VramlabError('VL_ERR_IO', `${path}: is a FIFO, not a generation_config.json`));
      expect(own.memory().peak).toBe(0); // no weight was placed
    } finally {
      own.dispose();
    }
  });

  it.each([
    ['generation_config.json, one id', 512, undefined, 'generation_config.json', 512],
    ['generation_config.json, in a list', [2, 70000], undefined, 'generation_config.json', 70000],
    ["config.json's, when generation_config.json has none", undefined, [2, 513], 'config.json', 513],
  ])('an EOS id outside the vocabulary (generation could never stop at it) is refused, naming the file: %s', async (_, eos, configEos, file, id) => {
    const dir = withEos(eos, configEos);
    const before = rt.memory().current;
    const e = await rt.loadModel(dir).then(
      () => null,
      (x: unknown) => x as VramlabError,
    );
    expect([e?.code, e?.message]).toEqual(['VL_ERR_FORMAT', `${join(dir, file)}: eos_token_id ${id} is outside the vocabulary (0..511, config.json's vocab_size): generation could never stop at it`]);
    expect(rt.memory().current).toBe(before); // the model it had loaded is freed
  });
});
