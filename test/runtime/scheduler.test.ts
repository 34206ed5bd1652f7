// Batched steps over many sessions: a batched forward equals the sessions' single steps (CPU: the same
// greedy tokens, logits within 1e-6), the scheduler decodes sessions together with chunked prefills,
// paged sessions join batches, a paused session leaves them, and bad calls fail cleanly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Logits, type Model, Runtime, type StepReport, VramlabError } from '../../runtime/index.js';
import { native } from '../../runtime/native.js';
import { GQA, MHA, relativeError as relErr } from '../helpers.js';

let rt: Runtime;
beforeAll(async () => {
  rt = await Runtime.open({ device: 'cpu' });
});
afterAll(() => rt.dispose());

function prompt(k: number, n: number, vocab: number): number[] {
  return Array.from({ length: n }, (_, i) => (i * 17 + k * 53 + 3) % vocab);
}

/** Each session's greedy tokens run alone (generate: picked on the device, one step at a time). */
async function alone(model: Model, prompts: number[][], newTokens: number): Promise<number[][]> {
  const out: number[][] = [];
  for (const p of prompts) {
    const s = model.createSession();
    out.push(await s.generate(p, newTokens));
    s.dispose();
  }
  return out;
}

describe.each([
  ['gqa', GQA],
  ['mha', MHA],
])('the %s fixture', (_name, dir) => {
  let model: Model;
  beforeAll(async () => {
    model = await rt.loadModel(dir, { kvPoolTokens: 2048 });
  });
  afterAll(() => model.dispose());

  it('forwardBatch: one step over sessions of different lengths gives each its single step\'s logits (within 1e-6)', async () => {
    const vocab = model.shape.vocabSize;
    const lengths = [5, 1, 17, 1, 33, 2];
    const sessions = lengths.map(() => model.createSession());
    const singles = lengths.map(() => model.createSession());
    // Histories of their own first: the batch then mixes decode tokens and prompt chunks at other positions.
    for (const [k, s] of [...sessions.entries(), ...singles.entries()]) await s.forward(prompt(k, 9 + k, vocab));
    const ids = lengths.map((n, k) => prompt(k + 7, n, vocab));
    const batch = await model.forwardBatch(sessions.map((session, k) => ({ session, ids: ids[k] as number[] })));
    for (const [k, s] of singles.entries()) {
      const single = (await s.forward(ids[k] as number[])) as Logits;
      const got = batch[k]!;
      expect(got.error).toBeNull();
      expect(relErr(got.logits!.data, single.data)).toBeLessThan(1e-6);
      expect(got.logits!.argmax()).toBe(single.argmax());
      expect(sessions[k]!.tokens).toBe(s.tokens);
    }
    for (const s of [...sessions, ...singles]) s.dispose();
  });

  it('the scheduler decodes sessions together: the tokens each gives alone, prefills chunked', async () => {
    const vocab = model.shape.vocabSize;
    const prompts = [20, 3, 41, 8, 1].map((n, k) => prompt(k, n, vocab));
    const want = await alone(model, prompts, 12);
    const reports: StepReport[] = [];
    const sched = model.scheduler({ prefillChunk: 16 });
    sched.onStep = (r) => reports.push(r);
    const sessions = prompts.map(() => model.createSession());
    const results = await Promise.all(sessions.map((s, k) => sched.submit(s, prompts[k] as number[], 12)));
    expect(results.map((r) => r.tokens)).toEqual(want);
    // Chunks of at most 16 prompt tokens a step; once every prompt is in, one step decodes all five.
    expect(Math.max(...reports.map((r) => r.prefillTokens))).toBeLessThanOrEqual(16);
    expect(reports.some((r) => r.decodeTokens === 5 && r.prefillTokens === 0)).toBe(true);
    for (const r of results) {
      expect(r.tokenMs).toHaveLength(12);
      expect(r.firstTokenMs).toBe(r.tokenMs[0]);
      expect(r.doneMs).toBeGreaterThanOrEqual(r.firstTokenMs as number);
    }
    // Appended tokens reuse the KV: a reflect step equals the same history run alone.
    const more = prompt(9, 6, vocab);
    const again = await sched.submit(sessions[0]!, [results[0]!.tokens[11] as number, ...more], 5);
    const check = model.createSession();
    const history = [...(prompts[0] as number[]), ...results[0]!.tokens, ...more];
    expect(again.tokens).toEqual(await check.generate(history, 5));
    for (const s of [...sessions, check]) s.dispose();
    sched.onStep = null;
  });
});

describe('scheduling with paging, breakpoints and errors', () => {
  it('sessions whose KV exceeds the pool complete token-exact: batches take what fits, the rest is paged', async () => {
    const m = await rt.loadModel(GQA, { kvPoolTokens: 64 }); // room for two of the five at their end
    const vocab = m.shape.vocabSize;
    const prompts = [0, 1, 2, 3, 4].map((k) => prompt(k, 20, vocab));
    const big = await rt.loadModel(GQA, { kvPoolTokens: 1024 });
    const want = await alone(big, prompts, 12);
    big.dispose();
    const sched = m.scheduler();
    const got = await Promise.all(prompts.map((p) => sched.submit(m.createSession(), p, 12)));
    expect(got.map((r) => r.tokens)).toEqual(want);
    expect(m.pagingStats().outBlocks).toBeGreaterThan(0);
    m.dispose();
  });

  it('a batch takes only the sessions that fit the pool together: the rest wait their turn instead of failing', async () => {
    // Four 16-token blocks; two sessions of 30 + 10 tokens need three each. Both in one batch, each
    // would need the other's blocks at token 33 and neither could be evicted (both in the step).
    const m = await rt.loadModel(GQA, { kvPoolTokens: 64 });
    const vocab = m.shape.vocabSize;
    const prompts = [0, 1].map((k) => prompt(k, 30, vocab));
    const want = await alone(m, prompts, 10);
    const sched = m.scheduler();
    const steps: StepReport[] = [];
    sched.onStep = (r) => steps.push(r);
    const got = await Promise.all(prompts.map((p) => sched.submit(m.createSession(), p, 10)));
    expect(got.map((r) => r.tokens)).toEqual(want);
    expect(Math.max(...steps.map((r) => r.sessions))).toBe(2); // together while both fit (to token 32)
    expect(steps.some((r) => r.sessions === 1 && r.leftOut === 1)).toBe(true); // then one waits
    m.dispose();
  });

  it('a session paused at a breakpoint takes no work; the others run; it resumes afterwards', async () => {
    const m = await rt.loadModel(GQA, { kvPoolTokens: 512 });
    const vocab = m.shape.vocabSize;
    const paused = m.createSession();
    const p = await paused.forward(prompt(0, 10, vocab), { breakpoints: [1] });
    const sched = m.scheduler();
    await expect(sched.submit(paused, [1, 2], 3)).rejects.toThrow(/paused at a breakpoint/);
    const other = m.createSession();
    expect((await sched.submit(other, prompt(1, 10, vocab), 4)).tokens).toHaveLength(4);
    if (!('resume' in p)) throw new Error('did not pause');
    expect(((await p.resume()) as Logits).rows).toBe(1);
    // While work is pending, the session's own calls are refused.
    const busy = sched.submit(other, [5], 3);
    await expect(other.forward([1])).rejects.toThrow(/work submitted to the scheduler/);
    await busy;
    m.dispose();
  });

  it('bad work: ids outside the vocabulary, no ids, work twice; a session disposed mid-work', async () => {
    const m = await rt.loadModel(GQA, { kvPoolTokens: 512 });
    const sched = m.scheduler();
    const s = m.createSession();
    await expect(sched.submit(s, [99999], 1)).rejects.toThrow(/token id 99999 at position 0 is outside the vocabulary/);
    await expect(sched.submit(s, [], 1)).rejects.toThrow(/no token ids given/);
    const first = sched.submit(s, [1, 2, 3], 50);
    await expect(sched.submit(s, [4], 1)).rejects.toThrow(/already has work/);
    s.dispose();
    await expect(first).rejects.toThrow(/disposed before its work was done/);
    expect(() => m.scheduler({ prefillChunk: 0 })).toThrow(VramlabError);
    const t = m.createSession();
    expect((await sched.submit(t, [1, 2, 3], 2)).tokens).toHaveLength(2);
    m.dispose();
  });
});

describe('disposing under a running step', () => {
  it('the model and the runtime refuse while the scheduler runs a step on a worker thread, and dispose once the work is done', async () => {
    const own = await Runtime.open({ device: 'cpu' });
    const m = await own.loadModel(GQA, { kvPoolTokens: 512 });
    const s = m.createSession();
    const work = m.scheduler().submit(s, [1, 2, 3], 4); // its first step is on a worker thread now
    const refusal = /^cannot dispose the model while its scheduler runs a step: await the submitted work first$/;
    expect(() => m.dispose()).toThrow(refusal);
    expect(() => own.dispose()).toThrow(refusal);
    expect(s.disposed).toBe(false); // all or nothing: the refused dispose freed no session
    expect((await work).tokens).toHaveLength(4);
    own.dispose();
    expect(m.disposed).toBe(true);
  });
});

describe('the step loop: the next step starts before the last one\'s results are read', () => {
  it('numbers the steps one by one, stamps no token before its step, and has no step in flight once the last work resolves', async () => {
    for (let round = 0; round < 8; round++) {
      const own = await Runtime.open({ device: 'cpu' });
      const m = await own.loadModel(GQA, { kvPoolTokens: 512 });
      const vocab = m.shape.vocabSize;
      const sched = m.scheduler();
      const steps: StepReport[] = [];
      sched.onStep = (r) => steps.push(r);
      // Items that end in different steps: each end is read while the step after it may run.
      const got = await Promise.all([1, 2, 3, 5].map((n, k) => sched.submit(m.createSession(), prompt(k, 4 + k, vocab), n)));
      expect(got.map((r) => r.tokens.length)).toEqual([1, 2, 3, 5]);
      const ran = steps.filter((r) => r.sessions > 0);
      expect(ran.map((r) => r.step)).toEqual(ran.map((_, i) => i + 1));
      for (const r of got) {
        expect(r.firstTokenMs as number).toBeGreaterThanOrEqual((ran[0] as StepReport).atMs);
        expect(r.doneMs).toBe(r.tokenMs[r.tokenMs.length - 1]);
      }
      own.dispose(); // throws when a step were still in flight
    }
  });

  it('prepare records the decode graphs of 1..N sessions ahead: the steps that replay them give the tokens each session gives alone', async () => {
    const m = await rt.loadModel(GQA, { kvPoolTokens: 512 });
    const vocab = m.shape.vocabSize;
    const prompts = [0, 1, 2, 3].map((k) => prompt(k, 6 + 3 * k, vocab));
    const want = await alone(m, prompts, 8);
    const sched = m.scheduler({ prefillChunk: 64, maxBatch: 8 });
    expect(await sched.prepare(4)).toBe(4); // the CPU backend records graphs too (closures)
    expect(await sched.prepare(4)).toBe(0); // recorded already
    const got = await Promise.all(prompts.map((p) => sched.submit(m.createSession(), p, 8)));
    expect(got.map((r) => r.tokens)).toEqual(want);
    await expect(sched.prepare(0)).rejects.toThrow(/^maxBatch must be a whole number from 1 to 65536, got 0$/);
    const work = sched.submit(m.createSession(), [1, 2, 3], 3);
    await expect(sched.prepare(2)).rejects.toThrow(/^prepare the scheduler while no work is pending: await the submitted work first$/);
    expect((await work).tokens).toHaveLength(3);
    m.dispose();
  });

  it('sessionsWork: each item says the step that last changed it; a token buffer too small and a negative start are refused by name', async () => {
    const m = await rt.loadModel(GQA, { kvPoolTokens: 256 });
    const vocab = m.shape.vocabSize;
    // One item after the other, each prompt one step: items of 1, 2 and 4 tokens end in steps 1, 3 and 7.
    const sessions = [1, 2, 4].map(() => m.createSession());
    for (const [k, n] of [1, 2, 4].entries()) await m.scheduler().submit(sessions[k]!, prompt(k, 5, vocab), n);
    const works = native.sessionsWork(sessions.map((x) => x._handle()), Int32Array.of(0, 0, 0), 7);
    expect(works.map((w) => [w.info.step, w.info.active, w.tokens.length])).toEqual([
      [1, 0, 1],
      [3, 0, 2],
      [7, 0, 4],
    ]);
    const s = m.createSession();
    await m.scheduler().submit(s, [1, 2, 3], 3);
    const h = s._handle();
    expect(native.sessionsWork([h], Int32Array.of(0), 3)[0]!.tokens).toHaveLength(3);
    expect(native.sessionsWork([h], Int32Array.of(2), 1)[0]!.tokens).toHaveLength(1);
    expect(() => native.sessionsWork([h], Int32Array.of(0), 2)).toThrow(/^tokens: cap 2 is too small for the sessions' new tokens/);
    expect(() => native.sessionsWork([h], Int32Array.of(-1), 3)).toThrow(/^from\[0\] must be >= 0$/);
    m.dispose();
  });
});

describe('reloading the weights (the serverless baseline)', () => {
  it('copies every resident weight byte again, and the model computes the same after it', async () => {
    const m = await rt.loadModel(GQA, { kvPoolTokens: 256 });
    const s = m.createSession();
    const before = (await s.forward([1, 2, 3], { logits: 'all' })) as Logits;
    const r = await m.reload();
    expect(r.bytes).toBe(m.info().residentBytes);
    expect(r.ms).toBeGreaterThanOrEqual(0);
    s.reset();
    const after = (await s.forward([1, 2, 3], { logits: 'all' })) as Logits;
    expect(Array.from(after.data)).toEqual(Array.from(before.data));
    m.dispose();
  });
});
