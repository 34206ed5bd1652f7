// KV paging: sessions whose KV caches together exceed the device pool, paged between the pool and
// pinned host memory under each policy, token-exact against the same sessions run alone; explicit
// page-out / page-in, quotas, the host budget, the decision records (replayed), and faults.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Logits, type Model, type PagingEvent, type PagingPolicy, Runtime, type Session, VramlabError } from '../../runtime/index.js';
import { GQA } from '../helpers.js';

const PROMPT = 20; // tokens per session; with NEW decoded tokens, 2 blocks of 16
const NEW = 12;
const SESSIONS = 5;
const POOL_TWO = 64; // tokens: 4 blocks, room for two sessions at their end

let rt: Runtime;
beforeAll(async () => {
  rt = await Runtime.open({ device: 'cpu' });
});
afterAll(() => rt.dispose());

function prompt(k: number, vocab: number): number[] {
  return Array.from({ length: PROMPT }, (_, i) => (i * 31 + k * 97 + 5) % vocab);
}

/** Every session prefilled, then decoding in turns, one token each round; the greedy tokens of each. */
async function roundRobin(model: Model, n = SESSIONS, plan = false): Promise<{ tokens: number[][]; sessions: Session[] }> {
  const vocab = model.shape.vocabSize;
  const sessions = Array.from({ length: n }, () => model.createSession());
  const tokens: number[][] = sessions.map(() => []);
  // next-use: the upcoming turns are known: after session k comes k + 1, ..., then the round again.
  const turns = (from: number) => model.planTurns(Array.from({ length: n }, (_, i) => sessions[(from + i) % n] as Session));
  for (const [k, s] of sessions.entries()) {
    if (plan) turns(k);
    tokens[k]!.push(((await s.forward(prompt(k, vocab))) as Logits).argmax());
  }
  for (let r = 1; r < NEW; r++)
    for (const [k, s] of sessions.entries()) {
      if (plan) turns(k);
      const mine = tokens[k] as number[];
      mine.push((await s.decode(mine[mine.length - 1] as number)).argmax());
    }
  return { tokens, sessions };
}

let alone: number[][];
beforeAll(async () => {
  // Each session run alone in a pool that holds everything: the reference tokens.
  const big = await rt.loadModel(GQA, { kvPoolTokens: 1024, paging: 'none' });
  alone = (await roundRobin(big)).tokens;
  big.dispose();
});

describe.each(['lru', 'next-use', 'recompute'] as const)('%s', (policy: PagingPolicy) => {
  let model: Model;
  let run: { tokens: number[][]; sessions: Session[] };
  beforeAll(async () => {
    model = await rt.loadModel(GQA, { kvPoolTokens: POOL_TWO, paging: policy });
    run = await roundRobin(model, SESSIONS, policy === 'next-use');
  });
  afterAll(() => model.dispose());

  it('completes every session with the tokens it gives alone (a pool that holds two of five)', () => {
    expect(model.info().kvPoolBlocks).toBe(4);
    expect(run.tokens).toEqual(alone);
  });

  it('reports what it moved: bytes are whole blocks, both ways; records name the policy rule', () => {
    const st = model.pagingStats();
    const block = model.info().kvBlockBytes;
    const ev = model.pagingEvents();
    if (policy === 'recompute') {
      expect(st.droppedBlocks).toBeGreaterThan(0);
      expect(st.recomputedTokens).toBeGreaterThan(0);
      expect(st.outBytes).toBe(0);
      expect(ev.some((e) => e.kind === 'drop' && e.reason === 'lru')).toBe(true);
    } else {
      expect(st.outBlocks).toBeGreaterThan(0);
      expect(st.outBytes).toBe(st.outBlocks * block);
      expect(st.inBytes).toBe(st.inBlocks * block);
      expect(ev.some((e) => e.kind === 'out' && e.reason === (policy === 'lru' ? 'lru' : 'next-use'))).toBe(true);
    }
    // Every step ran on a resident session: the records of a run say so.
    for (const e of ev.filter((x) => x.kind === 'run')) expect(e.hostBlocks).toBe(0);
    expect(ev.map((e) => e.seq)).toEqual(ev.map((_, i) => i + 1));
    expect(Math.max(...ev.map((e) => e.poolUsed))).toBeLessThanOrEqual(4);
  });
});

describe('the policies against each other', () => {
  it('next-use moves less than lru on the same round-robin turns (lru evicts the next one to run)', async () => {
    const moved: Record<string, number> = {};
    for (const policy of ['lru', 'next-use'] as const) {
      const m = await rt.loadModel(GQA, { kvPoolTokens: 2 * POOL_TWO, paging: policy }); // four of five
      await roundRobin(m, SESSIONS, policy === 'next-use');
      const st = m.pagingStats();
      moved[policy] = st.outBytes + st.inBytes;
      if (policy === 'next-use') expect(st.prefetchedBlocks).toBeGreaterThan(0);
      m.dispose();
    }
    expect(moved['next-use']).toBeLessThan(0.7 * (moved['lru'] as number));
  });

  it('none fails the first step that does not fit, with what it needed, and loses nothing', async () => {
    const m = await rt.loadModel(GQA, { kvPoolTokens: POOL_TWO, paging: 'none' });
    const err = await roundRobin(m).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(VramlabError);
    expect((err as VramlabError).code).toBe('VL_ERR_OUT_OF_MEMORY');
    expect((err as VramlabError).message).toMatch(/^KV pool exhausted: the step needs 2 blocks .* but only 0 of the 4 are free \(0 held by running sessions, 4 by idle ones\); paging is off/);
    m.dispose();
  });

  it('the same calls under the same policy give the same decisions: a recorded run replays', async () => {
    const record = async (): Promise<Omit<PagingEvent, 'tMs' | 'atMs'>[]> => {
      const m = await rt.loadModel(GQA, { kvPoolTokens: POOL_TWO, paging: 'next-use' });
      await roundRobin(m, SESSIONS, true);
      const ev = m.pagingEvents().map(({ tMs: _t, atMs: _a, ...rest }) => rest);
      m.dispose();
      return ev;
    };
    const first = await record();
    expect(first.length).toBeGreaterThan(3 * SESSIONS);
    expect(await record()).toEqual(first);
  });
});

describe('explicit control', () => {
  let model: Model;
  beforeAll(async () => {
    model = await rt.loadModel(GQA, { kvPoolTokens: POOL_TWO });
  });
  afterAll(() => model.dispose());

  it('pageOut frees the device blocks at once; pageIn brings them back; the next step is as without', async () => {
    const vocab = model.shape.vocabSize;
    const a = model.createSession();
    const b = model.createSession();
    await a.forward(prompt(0, vocab));
    await b.forward(prompt(0, vocab));
    a.pageOut();
    expect(a.residency()).toMatchObject({ blocks: 2, deviceBlocks: 0, hostBlocks: 2 });
    expect(model.info().kvFreeBlocks).toBe(2);
    expect(rt.memory().hostCurrent).toBeGreaterThan(0);
    await a.pageIn();
    expect(a.residency()).toMatchObject({ deviceBlocks: 2, hostBlocks: 0 });
    expect(Array.from((await a.decode(3)).data)).toEqual(Array.from((await b.decode(3)).data));
    // A page-out before a step: the step pages it back in by itself.
    a.pageOut();
    b.pageOut();
    expect(Array.from((await a.decode(4)).data)).toEqual(Array.from((await b.decode(4)).data));
    a.dispose();
    b.dispose();
    expect(model.info().kvFreeBlocks).toBe(4);
    expect(model.info().kvHostBlocks).toBe(0);
  });

  it('a quota caps a session\'s device blocks: a step past it fails and the session stays usable', async () => {
    const s = model.createSession();
    s.setQuota(1);
    await s.forward([1, 2, 3]);
    const err = await s.forward(Array.from({ length: 20 }, (_, i) => i)).then(
      () => null,
      (e: unknown) => e,
    );
    expect((err as VramlabError).code).toBe('VL_ERR_OUT_OF_MEMORY');
    expect((err as VramlabError).message).toMatch(/needs 2 KV blocks for the session but its quota is 1 device blocks/);
    expect(s.tokens).toBe(3);
    s.setQuota(0);
    await s.forward(Array.from({ length: 20 }, (_, i) => i));
    expect(s.tokens).toBe(23);
    s.dispose();
  });

  it('a paused session is a paging candidate: paged out while paused, its resume is exact', async () => {
    const vocab = model.shape.vocabSize;
    const ids = prompt(3, vocab);
    const plain = (await model.createSession().forward(ids, { logits: 'all' })) as Logits;
    const s = model.createSession();
    const p = await s.forward(ids, { logits: 'all', breakpoints: [2] });
    if (!('resume' in p)) throw new Error('did not pause');
    s.pageOut();
    expect(s.residency().hostBlocks).toBe(2);
    // Others run meanwhile and take the pool.
    const others = [model.createSession(), model.createSession()];
    for (const o of others) await o.forward(prompt(4, vocab));
    const out = (await p.resume()) as Logits;
    expect(Array.from(out.data)).toEqual(Array.from(plain.data));
    for (const o of [s, ...others]) o.dispose();
  });

  it('state errors: pageIn of a disposed session, a bad next-use key, a bad quota', async () => {
    const s = model.createSession();
    s.dispose();
    await expect(s.pageIn()).rejects.toThrow(/the session was disposed/);
    const t = model.createSession();
    expect(() => t.nextUse(-3)).toThrow(/next-use key must be a number >= 0 or null/);
    expect(() => t.setQuota(1.5)).toThrow(/quota must be a whole number/);
    expect(() => model.setPaging('fifo' as PagingPolicy)).toThrow(/unknown paging policy "fifo"/);
    t.dispose();
  });
});

describe('host memory', () => {
  it('a host budget too small for a page-out: one clear error, nothing lost, the runtime usable', async () => {
    const small = await Runtime.open({ device: 'cpu', hostBudget: 1000 });
    const m = await small.loadModel(GQA, { kvPoolTokens: POOL_TWO });
    const a = m.createSession();
    await a.forward([1, 2, 3]);
    const err = (() => {
      try {
        a.pageOut();
        return null;
      } catch (e) {
        return e;
      }
    })();
    expect((err as VramlabError).code).toBe('VL_ERR_OUT_OF_MEMORY');
    expect((err as VramlabError).message).toMatch(/^host budget too small: paging out a KV block needs .* of the 1000 B host budget is free .*--host-budget/);
    expect(a.residency()).toMatchObject({ deviceBlocks: 1, hostBlocks: 0 });
    expect((await a.decode(4)).rows).toBe(1);
    a.dispose();
    m.dispose();
    small.dispose();
  });

  it('reserveHost pins the host store ahead (whole chunks of 64 blocks, within the budget); paging then pins nothing', async () => {
    const m = await rt.loadModel(GQA, { kvPoolTokens: POOL_TWO, paging: 'lru' });
    const b = m.info().kvBlockBytes;
    const before = rt.memory().hostCurrent;
    const first = await m.reserveHost(3 * b);
    expect(first.bytes).toBe(64 * b);
    expect(first.ms).toBeGreaterThanOrEqual(0);
    expect(rt.memory().hostCurrent - before).toBe(64 * b);
    expect(await m.reserveHost(64 * b)).toEqual({ ms: 0, bytes: 64 * b }); // held already
    expect((await m.reserveHost(65 * b)).bytes).toBe(128 * b);
    const pinned = m.pagingStats().hostAllocMs;
    const { tokens } = await roundRobin(m);
    expect(tokens).toEqual(alone); // the reserved slots page as grown ones do
    expect(m.pagingStats().outBytes).toBeGreaterThan(0);
    expect(m.pagingStats().hostAllocMs).toBe(pinned);
    expect(rt.memory().hostCurrent - before).toBe(128 * b);
    m.dispose();
  });

  it('reserveHost past the host budget: one clear error, nothing pinned, the model usable; bad sizes refused', async () => {
    const small = await Runtime.open({ device: 'cpu', hostBudget: '1MiB' });
    const m = await small.loadModel(GQA, { kvPoolTokens: POOL_TWO });
    const b = m.info().kvBlockBytes;
    const most = Math.floor(2 ** 20 / b);
    await expect(m.reserveHost((most + 1) * b)).rejects.toThrow(
      new RegExp(`^host budget too small: reserving ${most + 1} KV host blocks of .* needs more than the 1.00 MiB host budget, which holds at most ${most}; raise it \\(--host-budget\\) or reserve less$`),
    );
    expect(small.memory().hostCurrent).toBe(0);
    expect((await m.reserveHost(most * b)).bytes).toBe(most * b); // a partial last chunk, up to the budget
    const s = m.createSession();
    expect(((await s.forward([1, 2, 3])) as Logits).rows).toBe(1);
    for (const bad of [-1, 1.5, Number.NaN]) await expect(m.reserveHost(bad)).rejects.toMatchObject({ code: 'VL_ERR_INVALID_ARGUMENT' });
    // Disposing while the pinning runs on its worker thread is refused, nothing disposed.
    const pinning = m.reserveHost(most * b);
    expect(() => m.dispose()).toThrow(/^cannot dispose the model .* while its weights reload or its host store is pinned: await the call first$/);
    expect(() => small.dispose()).toThrow(/while its weights reload or its host store is pinned/);
    await pinning;
    expect(((await s.forward([4])) as Logits).rows).toBe(1);
    s.dispose();
    m.dispose();
    small.dispose();
  });

  it('1000 page-out / page-in / free cycles keep device and host memory flat', async () => {
    const m = await rt.loadModel(GQA, { kvPoolTokens: POOL_TWO });
    const cycle = async () => {
      const s = m.createSession();
      await s.forward([1, 2, 3, 4, 5]);
      s.pageOut();
      await s.pageIn();
      s.pageOut();
      s.dispose(); // freed while paged out
    };
    for (let i = 0; i < 20; i++) await cycle();
    const before = rt.memory();
    for (let i = 0; i < 1000; i++) await cycle();
    const after = rt.memory();
    expect(after.current).toBe(before.current);
    expect(after.hostCurrent).toBe(before.hostCurrent);
    expect(m.info().kvFreeBlocks).toBe(4);
    expect(m.info().kvHostBlocks).toBe(0);
    m.dispose();
  });
});

describe('the copy probe', () => {
  it('times every direction the pager uses (and the device\'s own memory), each a positive GB/s; bad directions fail', async () => {
    for (const direction of ['h2d', 'd2h', 'both', 'd2d'] as const) expect(await rt.copyBandwidth({ bytes: '4MiB', reps: 2, direction })).toBeGreaterThan(0);
    await expect(rt.copyBandwidth({ bytes: '4MiB', direction: 'sideways' as 'h2d' })).rejects.toThrow(/unknown copy direction "sideways"/);
    expect(rt.memory().current).toBe(0);
  });
});
