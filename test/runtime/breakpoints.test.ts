// Breakpoints on the CPU backend: pausing a step after a layer, reading and editing the residual
// stream, resuming (held or offloaded state), aborting, steering, and the wrong-state errors. The copy
// stream is delayed, so an activation read or a streamed resume that missed an ordering shows up as
// wrong numbers.
process.env['VRAMLAB_CPU_COPY_DELAY_US'] = '200';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Logits, type Model, Paused, Runtime, type Session, VramlabError } from '../../runtime/index.js';
import { native } from '../../runtime/native.js';
import { GQA, MHA, reference, relativeError } from '../helpers.js';

const ref = reference(GQA);
const IDS = ref.input_ids; // 24 tokens, 4 layers, hidden 128, KV blocks of 16 tokens
let rt: Runtime;
let model: Model;
let plain: Logits; // IDS, all positions, no breakpoint

beforeAll(async () => {
  rt = await Runtime.open({ device: 'cpu' });
  model = await rt.loadModel(GQA, { kvPoolTokens: 4096 }); // sessions are left to the runtime's dispose
  plain = (await model.createSession().forward(IDS, { logits: 'all' })) as Logits;
});
afterAll(() => rt.dispose());

function paused(r: Logits | Paused | null): Paused {
  if (!(r instanceof Paused)) throw new Error('expected the step to pause');
  return r;
}
function logits(r: Logits | Paused | null): Logits {
  if (!r || r instanceof Paused) throw new Error('expected logits');
  return r;
}
/** Resumes until the step finishes; returns the logits and the layers it paused after. */
async function finish(r: Logits | Paused | null): Promise<{ logits: Logits; layers: number[] }> {
  const layers: number[] = [];
  while (r instanceof Paused) {
    layers.push(r.layer);
    r = await r.resume();
  }
  return { logits: logits(r), layers };
}
function same(a: Logits, b: Logits): void {
  expect(a.rows).toBe(b.rows);
  expect(Array.from(a.data)).toEqual(Array.from(b.data));
}
/** The VramlabError a call throws (sync or async). */
async function errorOf(call: () => unknown): Promise<VramlabError> {
  try {
    await call();
  } catch (e) {
    expect(e).toBeInstanceOf(VramlabError);
    return e as VramlabError;
  }
  throw new Error('expected an error');
}
function newSession(): Session {
  return model.createSession();
}

describe('steering: the output of decoder layer L scaled by S (reference.json "steer")', () => {
  it.each([GQA, MHA])('matches transformers through Session.forward({ steer }) (%s)', async (dir) => {
    const r = reference(dir);
    const m = await rt.loadModel(dir);
    const out = await m.createSession().forward(r.input_ids, { steer: [{ layer: r.steer.layer, scale: r.steer.scale }] });
    expect(out.rows).toBe(1);
    expect(relativeError(out.row(0), r.steer.logits_last)).toBeLessThan(1e-4);
    m.dispose();
  });

  it('is exactly a pause after L, scale(S), resume', async () => {
    const viaSteer = await newSession().forward(IDS, { logits: 'all', steer: [{ layer: 2, scale: 0.9 }] });
    expect(relativeError(viaSteer.data, plain.data)).toBeGreaterThan(1e-3); // the edit changes the output
    const p = paused(await newSession().forward(IDS, { logits: 'all', breakpoints: [2] }));
    p.scale(0.9);
    same(logits(await p.resume()), viaSteer);
  });

  it('composes several edits, at several layers, with add vectors', async () => {
    const v = Float32Array.from({ length: 128 }, (_, i) => Math.sin(i) / 10);
    const viaSteer = await newSession().forward(IDS, { steer: [{ layer: 0, add: v }, { layer: 3, scale: 1.5 }, { layer: 0, scale: 0.5 }] });
    let p = paused(await newSession().forward(IDS, { breakpoints: [0, 3] }));
    const x0 = Float32Array.from(p.activation());
    p.add(v);
    p.scale(0.5);
    const want = x0.map((x, i) => (x + (v[i % 128] as number)) * 0.5);
    expect(relativeError(p.activation(), want)).toBeLessThan(1e-6);
    p = paused(await p.resume());
    p.scale(1.5);
    const out = logits(await p.resume());
    expect(relativeError(out.data, viaSteer.data)).toBeLessThan(1e-6);
  });
});

describe('pause and resume without an edit', () => {
  it.each([[[0]], [[1]], [[3]], [[0, 2]], [[3, 1, 1]], ['all' as const]])('gives logits bit-identical to an uninterrupted run (breakpoints %j)', async (breakpoints) => {
    const { logits: out, layers } = await finish(await newSession().forward(IDS, { logits: 'all', breakpoints }));
    const want = breakpoints === 'all' ? [0, 1, 2, 3] : [...new Set(breakpoints)].sort();
    expect(layers).toEqual(want);
    same(out, plain);
  });

  it('shows the residual stream after the layer: its last row matches transformers\' layer outputs', async () => {
    let r: Logits | Paused = await newSession().forward(IDS, { breakpoints: 'all' });
    while (r instanceof Paused) {
      const a = r.activation();
      expect(a.length).toBe(24 * 128);
      expect(relativeError(a.subarray(23 * 128), ref.layer_outputs[r.layer] as number[])).toBeLessThan(1e-4);
      r = await r.resume();
    }
  });

  it('works on decode steps, which then never replay the decode graph', async () => {
    const a = newSession();
    const b = newSession();
    let next = logits(await a.forward(IDS)).argmax();
    expect(logits(await b.forward(IDS)).argmax()).toBe(next);
    for (let i = 0; i < 5; i++) {
      const want = await a.decode(next);
      const { logits: got, layers } = await finish(await b.forward([next], { breakpoints: [1, 2] }));
      expect(layers).toEqual([1, 2]);
      same(got, want);
      expect(b.lastStep().timeline).toHaveLength(4); // a replayed graph has no timeline
      next = want.argmax();
    }
    expect(b.tokens).toBe(29);
  });

  it('gives the greedy tokens of transformers with breakpoints at every layer of every step', async () => {
    const s = newSession();
    const tokens: number[] = [];
    let out = (await finish(await s.forward(IDS, { breakpoints: 'all' }))).logits;
    for (let i = 0; i < ref.greedy.length; i++) {
      tokens.push(out.argmax());
      if (i + 1 < ref.greedy.length) out = (await finish(await s.forward([out.argmax()], { breakpoints: 'all' }))).logits;
    }
    expect(tokens).toEqual(ref.greedy);
  });

  it('leaves generate and decode working afterwards', async () => {
    const s = newSession();
    await finish(await s.forward(IDS.slice(0, 10), { breakpoints: [2] }));
    expect(await s.generate(IDS.slice(10), 6)).toEqual(ref.greedy.slice(0, 6));
  });
});

describe('the paused state', () => {
  it('holds the residual under the VRAM budget while paused, and gives it back at the end', async () => {
    const before = rt.memory().current;
    const p = paused(await newSession().forward(IDS, { breakpoints: [1] }));
    expect(rt.memory().current - before).toBe(24 * 128 * 4);
    await p.resume();
    expect(rt.memory().current).toBe(before);
  });

  it('holds the step\'s KV reservation: the pool has fewer free blocks until the resume', async () => {
    const free = model.info().kvFreeBlocks;
    const s = newSession();
    const p = paused(await s.forward(IDS, { breakpoints: [0] }));
    expect(model.info().kvFreeBlocks).toBe(free - 2);
    expect(s.tokens).toBe(0);
    expect(s.paused).toBe(p);
    await p.resume();
    expect(s.tokens).toBe(24);
    expect(s.paused).toBeNull();
  });

  it('edits: activation() shows scale, add and setActivation; the resume applies them', async () => {
    const p = paused(await newSession().forward(IDS, { logits: 'all', breakpoints: [1] }));
    const x = p.activation();
    expect(p.activation()).toBe(x); // no edit: the same array
    const x0 = Float32Array.from(x);
    p.scale(2);
    const x2 = p.activation();
    expect(x2).not.toBe(x);
    expect(Array.from(x)).toEqual(Array.from(x0)); // an earlier array is the caller's: left alone
    expect(Array.from(x2)).toEqual(Array.from(x0, (v) => v * 2));
    p.setActivation(x0); // replaces, dropping the scale
    expect(Array.from(p.activation())).toEqual(Array.from(x0));
    same(logits(await p.resume()), plain);
  });

  it('setActivation of 2x equals scale(2), bit for bit', async () => {
    const p1 = paused(await newSession().forward(IDS, { logits: 'all', breakpoints: [2] }));
    p1.setActivation(p1.activation().map((v) => v * 2));
    const a = logits(await p1.resume());
    const p2 = paused(await newSession().forward(IDS, { logits: 'all', breakpoints: [2] }));
    p2.scale(2);
    same(a, logits(await p2.resume()));
    expect(relativeError(a.data, plain.data)).toBeGreaterThan(1e-3);
  });

  it('reports what the breakpoints cost', async () => {
    const p = paused(await newSession().forward(IDS, { breakpoints: [1, 2] }));
    let st = p.stats();
    expect(st).toMatchObject({ layer: 1, tokens: 24, hidden: 128, offloaded: false, pauses: 1, restoreMs: 0, gapMs: null, bytesMoved: 0 });
    expect(st.pauseMs).toBeGreaterThanOrEqual(0);
    await new Promise((r) => setTimeout(r, 20)); // paused for 20 ms: the device idles at least that long
    const q = paused(await p.resume());
    st = q.stats();
    expect(st).toMatchObject({ layer: 2, pauses: 2, bytesMoved: 0 });
    expect(st.restoreMs).toBeGreaterThan(0);
    expect(st.gapMs).toBeGreaterThanOrEqual(20);
    expect(st.gapMs).toBeLessThan(2000);
    q.activation();
    expect(q.stats().d2hBytes).toBe(24 * 128 * 4); // a read copies the activation device -> host
    await q.resume();
    st = q.stats(); // as the resume ended
    expect(st.layer).toBeNull();
    expect(st.toLogitsMs).toBeGreaterThanOrEqual(st.restoreMs);
  });
  it('a pause that resumed into another reads the step stats from the new one, and keeps them once it ends', async () => {
    const p = paused(await newSession().forward(IDS, { breakpoints: [0, 2] }));
    const q = paused(await p.resume());
    expect(p.stats()).toMatchObject({ layer: 2, pauses: 2 });
    expect(p.stats()).toEqual(q.stats());
    await q.resume();
    expect(p.stats()).toMatchObject({ layer: null, pauses: 2 });
    expect(p.stats()).toEqual(q.stats());
  });
  describe('a paused step is timed on the device without its pauses, its layers on one clock from its start', () => {
    const PAUSE = 400; // ms waited at each pause below: many times the tiny pass
    /** The timeline's layers in order on the Compute stream, each after the one before, within deviceMs. */
    function oneClock(s: Session): void {
      const st = s.lastStep();
      const t = st.timeline;
      expect(t).toHaveLength(4);
      expect(t[0]?.computeStartMs).toBeGreaterThanOrEqual(0);
      for (const [l, x] of t.entries()) {
        expect(x.computeEndMs).toBeGreaterThanOrEqual(x.computeStartMs);
        if (l > 0) expect(x.computeStartMs).toBeGreaterThanOrEqual((t[l - 1]?.computeEndMs as number) - 1e-3);
      }
      expect(t[3]?.computeEndMs).toBeLessThanOrEqual((st.deviceMs as number) + 1e-3);
    }
    it.each([
      ['after layer 1', [1]],
      ["at every layer ('all')", 'all'],
    ] as const)('%s', async (_name, breakpoints) => {
      const s = newSession();
      await s.forward(IDS);
      const whole = s.lastStep().deviceMs as number;
      expect(whole).toBeGreaterThan(0);
      s.reset();
      let r: Logits | Paused = paused(await s.forward(IDS, { breakpoints }));
      let pauses = 0;
      while (r instanceof Paused) {
        const p: Paused = r;
        await new Promise((done) => setTimeout(done, PAUSE));
        pauses++;
        r = await p.resume();
      }
      expect(pauses).toBe(breakpoints === 'all' ? 4 : 1);
      const st = s.lastStep();
      // Left out: pauses x PAUSE ms at the prompt. The pass itself takes a few ms (whole).
      expect(st.deviceMs).toBeGreaterThan(0);
      expect(st.deviceMs).toBeLessThan(PAUSE / 4);
      expect(st.wallMs).toBeLessThan(PAUSE / 4);
      oneClock(s);
    });
    it('also when another step ran on the model while it was paused', async () => {
      const s = newSession();
      const q = paused(await s.forward(IDS, { breakpoints: [1] }));
      await new Promise((done) => setTimeout(done, PAUSE));
      await newSession().forward(IDS.slice(0, 5));
      await q.resume();
      expect(s.lastStep().deviceMs).toBeGreaterThan(0);
      expect(s.lastStep().deviceMs).toBeLessThan(PAUSE / 4);
      oneClock(s);
    });
  });
  it('measures no gap when another step ran on the model while paused (its events were reused)', async () => {
    const p = paused(await newSession().forward(IDS, { breakpoints: [1] }));
    await newSession().forward(IDS.slice(0, 5));
    await p.resume();
    expect(p.stats().gapMs).toBeNull();
  });
});

describe('abort', () => {
  it('leaves the KV cache exactly as before the step: a re-run gives the logits of never having run', async () => {
    // 10 tokens first, so the aborted step also writes KV rows into the session's half-filled block.
    const twin = newSession();
    await twin.forward(IDS.slice(0, 10));
    const want = (await twin.forward(IDS.slice(10).reverse(), { logits: 'all' })) as Logits;

    for (const offload of [false, true]) {
      const s = newSession();
      await s.forward(IDS.slice(0, 10));
      const blocks = s.blocks;
      const free = model.info().kvFreeBlocks;
      const p = paused(await s.forward(IDS.slice(10), { breakpoints: [2], offload }));
      p.abort();
      expect(s.paused).toBeNull();
      expect(s.tokens).toBe(10);
      expect(s.blocks).toBe(blocks);
      expect(model.info().kvFreeBlocks).toBe(free);
      same((await s.forward(IDS.slice(10).reverse(), { logits: 'all' })) as Logits, want);
    }
  });
});

describe('sessions of one model while one is paused', () => {
  it('a paused session blocks neither another session\'s forward nor its own resume after it', async () => {
    const a = newSession();
    const p = paused(await a.forward(IDS, { logits: 'all', breakpoints: [1] }));
    const b = newSession();
    same((await b.forward(IDS, { logits: 'all' })) as Logits, plain); // runs while a is paused
    expect(await newSession().generate(IDS, 4)).toEqual(ref.greedy.slice(0, 4));
    same(logits(await p.resume()), plain);
  });

  it('two sessions paused at once, resumed in the other order', async () => {
    const p1 = paused(await newSession().forward(IDS, { logits: 'all', breakpoints: [0, 3] }));
    const p2 = paused(await newSession().forward(IDS.slice(0, 7), { logits: 'all', breakpoints: [2] }));
    const q1 = paused(await p1.resume());
    const r2 = logits(await p2.resume());
    same(r2, (await newSession().forward(IDS.slice(0, 7), { logits: 'all' })) as Logits);
    same(logits(await q1.resume()), plain);
  });
});

describe('offload: the paused state in host memory', () => {
  it('moves the residual and the step\'s KV of the layers run to the host and back; logits bit-identical', async () => {
    const s = newSession();
    const free = model.info().kvFreeBlocks;
    const before = rt.memory().current;
    const p = paused(await s.forward(IDS, { logits: 'all', breakpoints: [1], offload: true }));
    // Its blocks are back in the pool and no residual is held on the device while paused.
    expect(model.info().kvFreeBlocks).toBe(free);
    expect(rt.memory().current).toBe(before);
    const residual = 24 * 128 * 4;
    const kv = 2 * (2 * 2 * 16 * 32 * 4); // 2 blocks x (layers 0..1 x K,V x 16 tokens x kv_dim 32 x f32)
    expect(p.stats()).toMatchObject({ offloaded: true, d2hBytes: residual + kv, h2dBytes: 0 });
    // Another session may take the blocks meanwhile: the resume reserves new ones.
    const other = newSession();
    await other.forward(IDS.slice(0, 20));
    same(logits(await p.resume()), plain);
    expect(p.stats()).toMatchObject({ layer: null, offloaded: false, d2hBytes: residual + kv, h2dBytes: residual + kv });
    expect(s.tokens).toBe(24);
  });

  it('keeps edits and several pauses; decode steps too', async () => {
    const viaSteer = await newSession().forward(IDS, { logits: 'all', steer: [{ layer: 0, scale: 1.25 }, { layer: 2, scale: 0.75 }] });
    let p = paused(await newSession().forward(IDS, { logits: 'all', breakpoints: [0, 2], offload: true }));
    p.scale(1.25);
    p = paused(await p.resume());
    expect(p.stats().offloaded).toBe(true);
    p.setActivation(p.activation().map((v) => v * 0.75));
    same(logits(await p.resume()), viaSteer);

    const a = newSession();
    const b = newSession();
    await a.forward(IDS);
    await b.forward(IDS);
    same((await finish(await b.forward([7], { breakpoints: [3], offload: true }))).logits, await a.decode(7));
  });

  it('without paging, stays paused when the pool has no room for its blocks at the resume; resumes once it has', async () => {
    const m = await rt.loadModel(GQA, { kvPoolTokens: 32, paging: 'none' }); // 2 blocks
    const p = paused(await m.createSession().forward(IDS, { logits: 'all', breakpoints: [1], offload: true }));
    const hog = m.createSession();
    await hog.forward([1, 2, 3]);
    const err = await errorOf(() => p.resume());
    expect(err.code).toBe('VL_ERR_OUT_OF_MEMORY');
    expect(err.message).toMatch(/^KV pool exhausted: the step needs 2 blocks \(.*: 2 of the session's back from host memory, 0 new\) but only 1 of the 2 are free \(0 held by running sessions, 1 by idle ones\); paging is off/);
    expect(p.stats()).toMatchObject({ layer: 1, offloaded: true });
    hog.dispose();
    same(logits(await p.resume()), plain);
    m.dispose();
  });

  it('with paging, the resume pages out an idle session to bring its blocks back', async () => {
    const m = await rt.loadModel(GQA, { kvPoolTokens: 32 }); // 2 blocks, lru
    const p = paused(await m.createSession().forward(IDS, { logits: 'all', breakpoints: [1], offload: true }));
    const hog = m.createSession();
    await hog.forward([1, 2, 3]);
    same(logits(await p.resume()), plain);
    expect(hog.residency()).toMatchObject({ deviceBlocks: 0, hostBlocks: 1 });
    same(await hog.decode(4), await (async () => {
      const fresh = m.createSession();
      await fresh.forward([1, 2, 3]);
      return fresh.decode(4);
    })());
    m.dispose();
  });
});

describe('streamed layers (a ring of 1.5 layers, delayed copies)', () => {
  it.each(['stream-sync', 'accelerate'] as const)('%s: breakpoints at every layer give logits identical to resident', async (placement) => {
    const m = await rt.loadModel(GQA, { placement, ring: Math.floor(1.5 * model.info().layerBytes) });
    same((await finish(await m.createSession().forward(IDS, { logits: 'all', breakpoints: 'all' }))).logits, plain);
    m.dispose();
  });

  it('pause and resume give logits identical to resident, also when another session used the ring meanwhile', async () => {
    const m = await rt.loadModel(GQA, { placement: 'stream', ring: Math.floor(1.5 * model.info().layerBytes), prefetch: 2 });
    same((await finish(await m.createSession().forward(IDS, { logits: 'all', breakpoints: 'all' }))).logits, plain);
    for (const offload of [false, true]) {
      const p = paused(await m.createSession().forward(IDS, { logits: 'all', breakpoints: [0, 2], offload }));
      await m.createSession().forward(IDS.slice(0, 5));
      const q = paused(await p.resume());
      await m.createSession().generate([9, 8, 7], 3);
      same(logits(await q.resume()), plain);
    }
    // Each streamed layer is copied once per pass, breakpoints or not.
    const s = m.createSession();
    await finish(await s.forward(IDS, { breakpoints: [1, 2] }));
    expect(s.lastStep().h2dBytes).toBe(4 * m.info().layerBytes);
    m.dispose();
  });
});

describe('wrong calls are clear errors, and the session stays usable', () => {
  it('a second step, a generate or a reset while paused', async () => {
    const s = newSession();
    const p = paused(await s.forward(IDS, { logits: 'all', breakpoints: [1] }));
    const msg = 'the session is paused at a breakpoint after layer 1: resume or abort that step first';
    for (const call of [() => s.forward([1]), () => s.forward([1], { breakpoints: [0] }), () => s.generate([1], 2), () => s.reset()]) {
      const e = await errorOf(call);
      expect(e.code).toBe('VL_ERR_STATE');
      expect(e.message).toBe(msg);
    }
    same(logits(await p.resume()), plain);
    expect(s.tokens).toBe(24);
  });

  it('resume twice, abort after resume, edits after the end', async () => {
    const p = paused(await newSession().forward(IDS, { breakpoints: [1] }));
    await p.resume();
    for (const [call, what] of [
      [() => p.resume(), 'resume'],
      [() => p.abort(), 'abort'],
      [() => p.activation(), 'read the activation of'],
      [() => p.scale(2), 'scale the activation of'],
    ] as const) {
      const e = await errorOf(call);
      expect(e.code).toBe('VL_ERR_STATE');
      expect(e.message).toBe(`cannot ${what} this pause (after layer 1): it was already resumed (continue with what resume() returned)`);
    }
    const q = paused(await newSession().forward(IDS, { breakpoints: [2] }));
    q.abort();
    expect((await errorOf(() => q.resume())).message).toBe('cannot resume this pause (after layer 2): it was aborted');
  });

  it('resume while a resume is running', async () => {
    const p = paused(await newSession().forward(IDS, { logits: 'all', breakpoints: [0] }));
    const first = p.resume();
    const e = await errorOf(() => p.resume());
    expect(e.code).toBe('VL_ERR_STATE');
    same(logits(await first), plain);
  });

  it('a disposed session', async () => {
    const s = newSession();
    const p = paused(await s.forward(IDS, { breakpoints: [1] }));
    const free = model.info().kvFreeBlocks;
    s.dispose();
    expect(model.info().kvFreeBlocks).toBe(free + 2); // its reservation went back
    const e = await errorOf(() => p.resume());
    expect(e.code).toBe('VL_ERR_STATE');
    expect(e.message).toBe('cannot resume this pause (after layer 1): the session was disposed');
    expect((await errorOf(() => s.forward(IDS, { breakpoints: [1] }))).message).toBe('the session was disposed');
  });

  it('breakpoint and steer layers outside the model, bad scales', async () => {
    const s = newSession();
    for (const [options, msg] of [
      [{ breakpoints: [4] }, "breakpoint layer 4 is outside the model's layers (0..3)"],
      [{ breakpoints: [-1] }, "breakpoint layer -1 is outside the model's layers (0..3)"],
      [{ breakpoints: [1.5] }, "breakpoint layer 1.5 is outside the model's layers (0..3)"],
      [{ steer: [{ layer: 9, scale: 0.9 }] }, "steer layer 9 is outside the model's layers (0..3)"],
      [{ steer: [{ layer: 1, scale: Number.NaN }] }, 'steer 0 (layer 1): scale must be a finite number, got NaN'],
      [{ steer: [{ layer: 1, add: new Float32Array(3) }] }, 'steer 0 (layer 1): add has 3 values but the hidden size is 128'],
    ] as const) {
      const e = await errorOf(() => s.forward(IDS, options));
      expect(e.code).toBe('VL_ERR_INVALID_ARGUMENT');
      expect(e.message).toBe(msg);
    }
    expect(s.tokens).toBe(0);
    same((await s.forward(IDS, { logits: 'all' })) as Logits, plain);
  });

  it('an activation or a vector of the wrong length', async () => {
    const p = paused(await newSession().forward(IDS, { logits: 'all', breakpoints: [1] }));
    let e = await errorOf(() => p.setActivation(new Float32Array(5)));
    expect(e.code).toBe('VL_ERR_INVALID_ARGUMENT');
    expect(e.message).toBe('the activation has 5 values but the step paused after layer 1 has 24 tokens x 128 hidden = 3072');
    e = await errorOf(() => p.add(new Float32Array(127)));
    expect(e.message).toBe('the vector to add has 127 values but the hidden size is 128');
    e = await errorOf(() => p.scale(Number.POSITIVE_INFINITY));
    expect(e.message).toBe('the scale must be a finite number, got Infinity');
    same(logits(await p.resume()), plain); // nothing was applied
  });
});

describe('the C ABI (runtime/native.ts) in the wrong state', () => {
  it('resume, abort, activation calls on a session that is not paused', async () => {
    const h = native.runtimeOpen('cpu', { budget: 0, host_budget: 0 });
    const m = await native.modelLoad(h, MHA, { kv_block_tokens: 0, placement: 0, kv_pool_tokens: 64, prefetch: 0, paging: 0, ring_bytes: 0 });
    const s = native.sessionCreate(m);
    const cases: [() => unknown, string][] = [
      [() => native.sessionResume(s, null), 'the session is not paused at a breakpoint: there is no step to resume'],
      [() => native.sessionAbort(s), 'the session is not paused at a breakpoint: there is no step to abort'],
      [() => native.sessionActivationGet(s, new Float32Array(64)), 'the session is not paused at a breakpoint: there is no activation to read'],
      [() => native.sessionActivationSet(s, new Float32Array(64)), 'the session is not paused at a breakpoint: there is no activation to replace'],
      [() => native.sessionActivationEdit(s, 2, null), 'the session is not paused at a breakpoint: there is no activation to edit'],
    ];
    for (const [call, msg] of cases) {
      const e = await errorOf(call);
      expect(e.code).toBe('VL_ERR_STATE');
      expect(e.message).toBe(msg);
    }
    expect(native.sessionBreakpointStats(s).layer).toBe(-1);
    // A step with no breakpoint left runs to the end.
    const out = new Float32Array(256);
    expect(await native.sessionForwardBreakpoints(s, Int32Array.from([1, 2, 3]), 1, out, new Int32Array(0), false)).toBe(-1);
    expect(native.sessionInfo(s).n_tokens).toBe(3);
    native.sessionFree(s);
    native.modelFree(m);
    native.runtimeClose(h);
  });
});
