// Weight streaming on the CPU backend, whose copy stream is a real asynchronous queue: here every
// copy is delayed, so a missing event wait would show up as wrong logits.
process.env['VRAMLAB_CPU_COPY_DELAY_US'] = '300';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Logits, type Model, type ModelOptions, type Placement, Runtime, VramlabError } from '../../runtime/index.js';
import { GQA, reference } from '../helpers.js';

const ref = reference(GQA);
const SYNTH = 'synthetic:hidden=64,layers=5,heads=4,kv_heads=2,ffn=160,vocab=300,max_pos=256,seed=11';
let rt: Runtime;
let resident: Model;
let residentLogits: Logits;
let residentTokens: number[];

beforeAll(async () => {
  rt = await Runtime.open({ device: 'cpu' });
  resident = await rt.loadModel(GQA);
  residentLogits = (await resident.createSession().forward(ref.input_ids, { logits: 'all' })) as Logits;
  residentTokens = await resident.createSession().generate(ref.input_ids, 10);
});
afterAll(() => rt.dispose());

async function run(options: ModelOptions, dir = GQA) {
  const model = await rt.loadModel(dir, options);
  const s = model.createSession();
  const logits = (await s.forward(ref.input_ids, { logits: 'all' })) as Logits;
  const prefill = s.lastStep();
  const tokens = await model.createSession().generate(ref.input_ids, 10);
  return { model, logits, prefill, tokens };
}

describe.each(['stream', 'stream-sync', 'accelerate', 'auto'] as Placement[])('placement %s', (placement) => {
  it('gives logits identical to resident, in prefill and decode', async () => {
    const layer = resident.info().layerBytes;
    const { model, logits, tokens } = await run({ placement, ring: Math.floor(2.5 * layer) });
    expect(Array.from(logits.data)).toEqual(Array.from(residentLogits.data));
    expect(tokens).toEqual(residentTokens);
    model.dispose();
  });
});

describe('the ring', () => {
  it('streams every layer each pass: h2d bytes = layers x layer bytes, per prefill and per decode step', async () => {
    const { model, prefill } = await run({ placement: 'stream', prefetch: 2 });
    const info = model.info();
    expect(info.residentLayers).toBe(0);
    expect(info.ringBytes).toBe(2 * info.layerBytes);
    expect(prefill.h2dBytes).toBe(4 * info.layerBytes);
    const s = model.createSession();
    await s.generate([1, 2, 3], 5);
    expect(s.lastStep().passes).toBe(5);
    expect(s.lastStep().h2dBytes).toBe(5 * 4 * info.layerBytes);
    model.dispose();
  });

  it.each([1, 1.3, 2, 2.5, 3.7, 4])('wraps correctly with a ring of %s layers and prefetch 1..3', async (layers) => {
    const m0 = await rt.loadModel(SYNTH);
    const want = (await m0.createSession().forward([5, 6, 7, 8, 9], { logits: 'all' })) as Logits;
    const layer = m0.info().layerBytes;
    m0.dispose();
    for (const prefetch of [1, 2, 3]) {
      const m = await rt.loadModel(SYNTH, { placement: 'stream', ring: Math.floor(layers * layer), prefetch });
      const got = (await m.createSession().forward([5, 6, 7, 8, 9], { logits: 'all' })) as Logits;
      expect(Array.from(got.data), `ring ${layers} layers, prefetch ${prefetch}`).toEqual(Array.from(want.data));
      m.dispose();
    }
  });

  it('has a sane timeline: each layer copied before it is computed, computes in order', async () => {
    const { model, prefill } = await run({ placement: 'stream', prefetch: 2, ring: 3 * resident.info().layerBytes });
    expect(prefill.timeline).toHaveLength(4);
    let lastEnd = 0;
    for (const t of prefill.timeline) {
      expect(t.copyStartMs).not.toBeNull();
      expect(t.copyStartMs as number).toBeLessThanOrEqual(t.copyEndMs as number);
      expect(t.copyEndMs as number).toBeLessThanOrEqual(t.computeStartMs + 1e-3);
      expect(t.computeStartMs).toBeLessThanOrEqual(t.computeEndMs);
      expect(t.computeStartMs).toBeGreaterThanOrEqual(lastEnd - 1e-3);
      lastEnd = t.computeEndMs;
    }
    model.dispose();
  });

  it('stream-sync never overlaps: each copy starts after the previous layer computed', async () => {
    const { model, prefill } = await run({ placement: 'stream-sync', ring: 4 * resident.info().layerBytes });
    const tl = prefill.timeline;
    for (let l = 1; l < tl.length; l++) expect(tl[l]!.copyStartMs as number).toBeGreaterThanOrEqual(tl[l - 1]!.computeEndMs - 1e-3);
    model.dispose();
  });

  it('with a one-layer ring, a copy waits for the compute of the layer it overwrites', async () => {
    const { model, prefill } = await run({ placement: 'stream', prefetch: 3, ring: resident.info().layerBytes });
    const tl = prefill.timeline;
    for (let l = 1; l < tl.length; l++) expect(tl[l]!.copyStartMs as number).toBeGreaterThanOrEqual(tl[l - 1]!.computeEndMs - 1e-3);
    model.dispose();
  });

  it('auto keeps as many layers resident as the budget allows and streams the rest', async () => {
    const layer = resident.info().layerBytes;
    const rt2 = await Runtime.open({ device: 'cpu', budget: 5_000_000 });
    const m = await rt2.loadModel(GQA, { placement: 'auto', ring: layer, kvPoolTokens: 64 });
    const info = m.info();
    expect(info.residentLayers).toBeGreaterThan(0);
    expect(info.residentLayers).toBeLessThan(4);
    expect(info.hostBytes).toBe((4 - info.residentLayers) * layer);
    const logits = (await m.createSession().forward(ref.input_ids, { logits: 'all' })) as Logits;
    expect(Array.from(logits.data)).toEqual(Array.from(residentLogits.data));
    expect(rt2.memory().peak).toBeLessThanOrEqual(5_000_000);
    rt2.dispose();
  });
});

describe('errors before any work', () => {
  async function expectError(p: Promise<unknown>, code: string, pattern: RegExp) {
    const e = await p.then(() => null, (err: unknown) => err);
    expect(e).toBeInstanceOf(VramlabError);
    expect((e as VramlabError).code).toBe(code);
    expect((e as VramlabError).message).toMatch(pattern);
  }

  it('a ring smaller than a layer', async () => {
    await expectError(rt.loadModel(GQA, { placement: 'stream', ring: '100KB' }), 'VL_ERR_INVALID_ARGUMENT', /ring \(97\.66 KiB\) is smaller than one layer \(338\.50 KiB\).*--ring/);
  });

  it('a budget that cannot hold the ring plus working buffers, with nothing allocated', async () => {
    const small = await Runtime.open({ device: 'cpu', budget: '1.5MB' });
    await expectError(small.loadModel(GQA, { placement: 'stream', ring: '1MB' }), 'VL_ERR_OUT_OF_MEMORY', /placing tiny-llama-gqa \(stream: 0 of 4 layers resident, a 976\.56 KiB ring, a KV pool of \d+ tokens\)/);
    expect(small.memory().current).toBe(0);
    expect(small.memory().peak).toBe(0);
    small.dispose();
  });

  it('a ring with the resident placement, an unknown placement, a bad prefetch', async () => {
    await expectError(rt.loadModel(GQA, { ring: '1MB' }), 'VL_ERR_INVALID_ARGUMENT', /placement is resident/);
    await expectError(rt.loadModel(GQA, { placement: 'swap' as Placement }), 'VL_ERR_INVALID_ARGUMENT', /unknown placement "swap"/);
    await expectError(rt.loadModel(GQA, { placement: 'stream', prefetch: 0 }), 'VL_ERR_INVALID_ARGUMENT', /prefetch/);
  });
});

describe('copy bandwidth probe', () => {
  it('measures a positive host-to-device bandwidth, pinned and pageable, under the budget', async () => {
    const probe = await Runtime.open({ device: 'cpu', budget: '64MB' });
    for (const pinned of [true, false]) expect(await probe.copyBandwidth({ bytes: '8MB', pinned, reps: 2 })).toBeGreaterThan(0);
    expect(probe.memory().peak).toBe(8_000_000);
    expect(probe.memory().current).toBe(0);
    await expect(probe.copyBandwidth({ bytes: '100MB' })).rejects.toThrow(/the bandwidth probe needs/);
    probe.dispose();
  });
});
