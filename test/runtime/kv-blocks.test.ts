// The paged KV cache: block counts at block boundaries, logits independent of the block size (only
// the layout differs), sessions sharing one pool, blocks given back, and an exhausted pool.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Logits, type Model, Runtime, VramlabError } from '../../runtime/index.js';
import { GQA, reference, relativeError } from '../helpers.js';

const SYNTH = 'synthetic:hidden=64,layers=2,heads=4,kv_heads=2,ffn=128,vocab=300,max_pos=512,seed=5';

let rt: Runtime;
beforeAll(async () => {
  rt = await Runtime.open({ device: 'cpu' });
});
afterAll(() => rt.dispose());

/** Deterministic token ids below vocab. */
function ids(n: number, vocab: number, salt = 0): number[] {
  return Array.from({ length: n }, (_, i) => (i * 37 + salt * 101 + 11) % vocab);
}

/** Prefills prompt, then decodes the given tokens one by one: every step's logits (prefill: all rows). */
async function run(model: Model, prompt: number[], decoded: number[]): Promise<{ prefill: Logits; steps: Float32Array[]; blocks: number[] }> {
  const s = model.createSession();
  const prefill = (await s.forward(prompt, { logits: 'all' })) as Logits;
  const steps: Float32Array[] = [];
  const blocks = [s.blocks];
  for (const t of decoded) {
    steps.push((await s.decode(t)).row(0).slice());
    blocks.push(s.blocks);
  }
  s.dispose();
  return { prefill, steps, blocks };
}

describe.each([
  ['the gqa fixture', GQA],
  ['a synthetic model', SYNTH],
])('block tables of %s', (_name, source) => {
  const models = new Map<number, Model>();
  const model = (bt: number) => models.get(bt) as Model;
  beforeAll(async () => {
    for (const bt of [16, 4, 1]) models.set(bt, await rt.loadModel(source, bt === 16 ? {} : { kvBlockTokens: bt }));
  });
  afterAll(() => models.forEach((m) => m.dispose()));

  it('uses 16-token blocks by default and the asked block size otherwise', () => {
    expect(model(16).info().kvBlockTokens).toBe(16);
    expect(model(4).info().kvBlockTokens).toBe(4);
    expect(model(1).info().kvBlockTokens).toBe(1);
    for (const m of models.values()) {
      const i = m.info();
      expect(i.kvFreeBlocks).toBe(i.kvPoolBlocks);
      expect(i.kvPoolBlocks * i.kvBlockTokens).toBeGreaterThanOrEqual(512);
    }
  });

  it.each([
    [16, 16, 1],
    [16, 17, 2],
    [16, 32, 2],
    [16, 33, 3],
    [4, 4, 1],
    [4, 5, 2],
    [4, 100, 25],
    [1, 1, 1],
    [1, 37, 37],
  ])('block size %i: a %i-token prompt holds %i blocks', async (bt, n, want) => {
    const m = model(bt);
    const s = m.createSession();
    expect(s.blocks).toBe(0);
    await s.forward(ids(n, m.shape.vocabSize), { logits: 'none' });
    expect(s.tokens).toBe(n);
    expect(s.blocks).toBe(want);
    expect(m.info().kvFreeBlocks).toBe(m.info().kvPoolBlocks - want);
    s.dispose();
    expect(m.info().kvFreeBlocks).toBe(m.info().kvPoolBlocks);
  });

  it('takes a new block exactly when decode crosses a block boundary', async () => {
    for (const bt of [16, 4]) {
      const m = model(bt);
      const s = m.createSession();
      await s.forward(ids(bt - 1, m.shape.vocabSize), { logits: 'none' });
      expect(s.blocks).toBe(1);
      const seen: Array<[number, number]> = [];
      for (let i = 0; i < 2 * bt + 2; i++) {
        await s.decode((i * 13 + 1) % m.shape.vocabSize);
        seen.push([s.tokens, s.blocks]);
        expect(m.info().kvFreeBlocks).toBe(m.info().kvPoolBlocks - s.blocks);
      }
      expect(seen).toEqual(seen.map(([t]) => [t, Math.ceil(t / bt)]));
      // The boundary tokens: bt tokens fill the first block, token bt + 1 opens the second.
      expect(seen.find(([t]) => t === bt)?.[1]).toBe(1);
      expect(seen.find(([t]) => t === bt + 1)?.[1]).toBe(2);
      expect(seen.find(([t]) => t === 2 * bt + 1)?.[1]).toBe(3);
      s.dispose();
    }
  });

  it('gives the same logits with blocks of 16, 4 and 1 tokens, in prefill and across decode', async () => {
    const vocab = model(16).shape.vocabSize;
    const prompt = ids(21, vocab, 1);
    const decoded = ids(19, vocab, 2);
    const want = await run(model(16), prompt, decoded);
    for (const bt of [4, 1]) {
      const got = await run(model(bt), prompt, decoded);
      expect(relativeError(got.prefill.data, want.prefill.data), `block ${bt}, prefill`).toBeLessThan(1e-6);
      got.steps.forEach((row, i) => expect(relativeError(row, want.steps[i] as Float32Array), `block ${bt}, decode step ${i}`).toBeLessThan(1e-6));
      expect(got.blocks.at(-1)).toBe(Math.ceil(40 / bt));
    }
  });

  it('gives a long prompt over many blocks the logits a decode-only run gives', async () => {
    // One 40-token prefill over 40 one-token blocks vs 40 single-token steps over 10 four-token blocks.
    const vocab = model(1).shape.vocabSize;
    const seq = ids(40, vocab, 3);
    const whole = await run(model(1), seq, []);
    const stepwise = await run(model(4), seq.slice(0, 1), seq.slice(1));
    expect(relativeError(stepwise.prefill.row(0), whole.prefill.row(0))).toBeLessThan(1e-6);
    stepwise.steps.forEach((row, i) => expect(relativeError(row, whole.prefill.row(i + 1)), `position ${i + 1}`).toBeLessThan(1e-5));
  });
});

describe('sessions sharing one pool', () => {
  let model: Model;
  beforeAll(async () => {
    model = await rt.loadModel(GQA, { kvBlockTokens: 4 });
  });
  afterAll(() => model.dispose());

  it('two sessions decoding in turns produce what each produces alone', async () => {
    const ref = reference(GQA);
    const promptA = ref.input_ids.slice(0, 7);
    const promptB = ref.input_ids.slice(5, 18);
    const n = 20;

    const alone = async (prompt: number[]) => {
      const s = model.createSession();
      const out = await s.generate(prompt, n);
      s.dispose();
      return out;
    };
    const wantA = await alone(promptA);
    const wantB = await alone(promptB);
    expect(wantA).not.toEqual(wantB);

    // Interleaved: A and B each take a block in turn, so their blocks alternate in the pool and
    // attention must read each session's positions through its own table.
    const a = model.createSession();
    const b = model.createSession();
    let nextA = ((await a.forward(promptA)) as Logits).argmax();
    let nextB = ((await b.forward(promptB)) as Logits).argmax();
    const gotA = [nextA];
    const gotB = [nextB];
    for (let i = 1; i < n; i++) {
      nextA = (await a.decode(nextA)).argmax();
      nextB = (await b.decode(nextB)).argmax();
      gotA.push(nextA);
      gotB.push(nextB);
    }
    expect(gotA).toEqual(wantA);
    expect(gotB).toEqual(wantB);
    const info = model.info();
    expect(info.kvFreeBlocks).toBe(info.kvPoolBlocks - a.blocks - b.blocks);
    expect(a.blocks).toBe(Math.ceil((promptA.length + n - 1) / 4));
    a.dispose();
    b.dispose();
  });

  it('two sessions stepping concurrently (both calls in flight) produce what each produces alone', async () => {
    const ref = reference(GQA);
    const prompts = [ref.input_ids.slice(0, 9), ref.input_ids.slice(9)];
    const want = await Promise.all(
      prompts.map(async (p) => {
        const s = model.createSession();
        const out = await s.generate(p, 10);
        s.dispose();
        return out;
      }),
    );
    const sessions = prompts.map(() => model.createSession());
    const got = await Promise.all(sessions.map((s, i) => s.generate(prompts[i] as number[], 10)));
    expect(got).toEqual(want);
    sessions.forEach((s) => s.dispose());
  });

  it('reset() gives the blocks back and leaves a session that computes as a fresh one', async () => {
    const vocab = model.shape.vocabSize;
    const total = model.info().kvPoolBlocks;
    const s = model.createSession();
    await s.forward(ids(30, vocab), { logits: 'none' });
    expect(s.blocks).toBe(8);
    expect(model.info().kvFreeBlocks).toBe(total - 8);
    s.reset();
    expect(s.tokens).toBe(0);
    expect(s.blocks).toBe(0);
    expect(model.info().kvFreeBlocks).toBe(total);

    const prompt = ids(6, vocab, 4);
    const after = (await s.forward(prompt, { logits: 'all' })) as Logits;
    const fresh = model.createSession();
    const want = (await fresh.forward(prompt, { logits: 'all' })) as Logits;
    expect(after.data).toEqual(want.data);
    fresh.dispose();
    s.dispose();
    expect(model.info().kvFreeBlocks).toBe(total);
  });

  it('dispose() gives the blocks back', async () => {
    const total = model.info().kvPoolBlocks;
    const s = model.createSession();
    await s.forward(ids(9, model.shape.vocabSize), { logits: 'none' });
    expect(model.info().kvFreeBlocks).toBe(total - 3);
    s.dispose();
    expect(model.info().kvFreeBlocks).toBe(total);
  });
});

describe('an exhausted KV pool', () => {
  let small: Model;
  let large: Model;
  beforeAll(async () => {
    small = await rt.loadModel(GQA, { kvPoolTokens: 32, paging: 'none' }); // two blocks of 16, no paging
    large = await rt.loadModel(GQA);
  });
  afterAll(() => {
    small.dispose();
    large.dispose();
  });

  async function expectPoolExhausted(p: Promise<unknown>): Promise<void> {
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(VramlabError);
    const e = err as VramlabError;
    expect(e.code).toBe('VL_ERR_OUT_OF_MEMORY');
    expect(e.message).toMatch(/KV pool/);
    expect(e.message).not.toContain('\n');
  }

  it('has the pool asked for', () => {
    expect(small.info().kvPoolBlocks).toBe(2);
    expect(small.info().kvFreeBlocks).toBe(2);
  });

  it('a prompt larger than the pool fails with VL_ERR_OUT_OF_MEMORY and leaves the session as it was', async () => {
    const vocab = small.shape.vocabSize;
    const s = small.createSession();
    await expectPoolExhausted(s.forward(ids(40, vocab)));
    expect(s.tokens).toBe(0);
    expect(s.blocks).toBe(0);
    expect(small.info().kvFreeBlocks).toBe(2);

    const prefix = ids(10, vocab, 1);
    await s.forward(prefix, { logits: 'none' });
    await expectPoolExhausted(s.forward(ids(40, vocab)));
    expect(s.tokens).toBe(10);
    expect(s.blocks).toBe(1);
    expect(small.info().kvFreeBlocks).toBe(1);
    s.dispose();
    expect(small.info().kvFreeBlocks).toBe(2);
  });

  it('generation that outgrows the pool fails with VL_ERR_OUT_OF_MEMORY and leaves the session as before it', async () => {
    const s = small.createSession();
    await s.forward([5, 6]);
    await expectPoolExhausted(s.generate([1, 2, 3], 40)); // the prefill fits, decoding runs out
    expect(s.tokens).toBe(2);
    expect(s.blocks).toBe(1);
    expect(small.info().kvFreeBlocks).toBe(1);
    s.reset();
    expect(small.info().kvFreeBlocks).toBe(2);
    const r = large.createSession();
    expect(await s.generate([1, 2, 3], 8)).toEqual(await r.generate([1, 2, 3], 8));
    r.dispose();
    s.dispose();
  });

  it('a failed step keeps the cache: the next step equals a recompute', async () => {
    const vocab = small.shape.vocabSize;
    const s = small.createSession();
    const prefix = ids(10, vocab, 1);
    await s.forward(prefix, { logits: 'none' });
    await expectPoolExhausted(s.forward(ids(40, vocab)));
    const step = await s.decode(7);
    const r = large.createSession();
    const want = (await r.forward([...prefix, 7])) as Logits;
    r.dispose();
    expect(relativeError(step.row(0), want.row(0))).toBeLessThan(1e-6);
    // The blocks a failed step would have needed were not taken: another session can use the rest.
    const other = small.createSession();
    await other.forward(ids(16, vocab, 2), { logits: 'none' });
    expect(small.info().kvFreeBlocks).toBe(0);
    await expectPoolExhausted(other.decode(3));
    expect(other.tokens).toBe(16);
    other.dispose();
    s.dispose();
  });
});
