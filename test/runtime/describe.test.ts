// Runtime.describeModel: what a load would place where, decided by the native planner without loading
// (vl_model_describe). The numbers are the loader's own: a load with the same options on the same
// runtime reports the same placement, ring and KV pool, and allocates exactly vram.need; describing
// allocates nothing, so synthetic:llama-70b is described at once under any budget.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ModelOptions, parseSyntheticSpec, Runtime, type VramlabError, weightBytes } from '../../runtime/index.js';
import { GQA, readSafetensors, Temps, writeSafetensors } from '../helpers.js';

const temps = new Temps();
afterAll(() => temps.removeAll());

async function withRuntime<T>(budget: string | undefined, body: (rt: Runtime) => Promise<T>): Promise<T> {
  const rt = await Runtime.open({ device: 'cpu', budget });
  try {
    return await body(rt);
  } finally {
    rt.dispose();
  }
}

describe('describeModel gives the numbers the load then uses', () => {
  // step: a maxStepTokens step fits the budget and the pool, and then allocates the workspace described
  const cases: [string, string, string | undefined, ModelOptions, { step: boolean }][] = [
    ['resident, no budget', GQA, undefined, {}, { step: true }],
    ['resident, the pool from a budget', GQA, '64MB', {}, { step: true }],
    ['auto, two of four layers resident', GQA, '6500KB', { placement: 'auto' }, { step: false }],
    ['stream with a ring and prefetch 2', GQA, undefined, { placement: 'stream', ring: '1MiB', prefetch: 2 }, { step: true }],
    ['stream-sync', GQA, '32MB', { placement: 'stream-sync' }, { step: true }],
    ['accelerate', GQA, undefined, { placement: 'accelerate' }, { step: true }],
    ['a given pool in blocks of 8', GQA, undefined, { kvPoolTokens: 100, kvBlockTokens: 8 }, { step: false }],
    ['synthetic, tied embeddings, bf16', 'synthetic:tiny,tie=1,dtype=bf16', '16MB', { placement: 'auto' }, { step: true }],
  ];
  it.each(cases)('%s', async (_, source, budget, options, { step }) => {
    await withRuntime(budget, async (rt) => {
      const d = await rt.describeModel(source, options);
      expect(rt.memory().peak).toBe(0);
      const m = await rt.loadModel(source, options);
      const i = m.info();
      expect(d.shape).toEqual(m.shape);
      expect({
        weightBytes: d.weights.bytes,
        layerBytes: d.weights.layerBytes,
        placement: d.placement.placement,
        residentLayers: d.placement.residentLayers,
        residentBytes: d.placement.residentBytes,
        hostBytes: d.placement.hostBytes,
        ringBytes: d.placement.ringBytes,
        prefetch: d.placement.prefetch,
        kvBlockTokens: d.kv.blockTokens,
        kvPoolBlocks: d.kv.poolBlocks,
        kvPoolBytes: d.kv.poolBytes,
        kvBlockBytes: d.kv.blockBytes,
        maxStepTokens: d.vram.maxStepTokens,
      }).toEqual({
        weightBytes: i.weightBytes,
        layerBytes: i.layerBytes,
        placement: i.placement,
        residentLayers: i.residentLayers,
        residentBytes: i.residentBytes,
        hostBytes: i.hostBytes,
        ringBytes: i.ringBytes,
        prefetch: i.prefetch,
        kvBlockTokens: i.kvBlockTokens,
        kvPoolBlocks: i.kvPoolBlocks,
        kvPoolBytes: i.kvPoolBytes,
        kvBlockBytes: i.kvBlockBytes,
        maxStepTokens: i.maxStepTokens,
      });
      expect(d.kv.bytesPerToken * d.kv.blockTokens).toBe(i.kvBlockBytes);
      expect(d.vram.fits).toBe(true);
      expect(rt.memory().current).toBe(d.vram.need); // what the load allocated, to the byte
      if (!step) return;
      await m.createSession().forward(Array.from({ length: d.vram.maxStepTokens }, (_, k) => k % d.shape.vocabSize), { logits: 'last' });
      expect(rt.memory().peak - d.vram.need).toBe(d.vram.workspaceBytes);
    });
  });

  // Where the pool took the budget's rest it left room for the whole workspace, which the first step then
  // takes (a growing workspace would drop the recorded graphs each time it grew); a given pool grows it.
  it.each([
    ['the pool from a budget', '64MB', {}, true],
    ['a given pool', undefined, { kvPoolTokens: 100 }, false],
  ] as const)('the first step of 3 tokens: %s', async (_, budget, options, whole) => {
    await withRuntime(budget, async (rt) => {
      const d = await rt.describeModel(GQA, options);
      const m = await rt.loadModel(GQA, options);
      const s = m.createSession();
      await s.forward([1, 2, 3], { logits: 'last' });
      const taken = rt.memory().peak - d.vram.need;
      if (whole) expect(taken).toBe(d.vram.workspaceBytes);
      else expect([taken > 0, taken < d.vram.workspaceBytes]).toEqual([true, true]);
      s.dispose();
    });
  });

  it('sees what the runtime holds already: a second copy under the same budget does not fit, by what the first took', async () => {
    await withRuntime('64MB', async (rt) => {
      const first = await rt.loadModel(GQA, { kvPoolTokens: 4096 });
      const held = rt.memory().current;
      const d = await rt.describeModel(GQA, { kvPoolTokens: 60000 });
      expect(d.vram).toMatchObject({ budget: 64_000_000, free: 64_000_000 - held, fits: false, short: d.vram.need - (64_000_000 - held) });
      expect(rt.memory().current).toBe(held);
      first.dispose();
    });
  });
});

describe('describeModel of synthetic:llama-70b builds no weights', () => {
  it('no budget: described, with no byte allocated', async () => {
    await withRuntime(undefined, async (rt) => {
      const d = await rt.describeModel('synthetic:llama-70b');
      expect(rt.memory()).toMatchObject({ current: 0, peak: 0, hostCurrent: 0, hostPeak: 0 });
      expect(d.parameters).toBe(68_976_648_192);
      expect(d.weights.bytes).toBe(weightBytes(parseSyntheticSpec('llama-70b').shape)); // every dimension a multiple of 128: no padding
      expect(d.placement).toMatchObject({ placement: 'resident', residentLayers: 80, streamedLayers: 0 });
    });
  });

  it('a budget far too small to load it: described, not fitting, by the exact shortfall', async () => {
    await withRuntime('100MB', async (rt) => {
      const d = await rt.describeModel('synthetic:llama-70b', { placement: 'stream' });
      expect(rt.memory().peak).toBe(0);
      expect(d.placement).toMatchObject({ placement: 'stream', residentLayers: 0, streamedLayers: 80, hostBytes: 80 * d.weights.layerBytes, ringBytes: 2 * d.weights.layerBytes });
      expect(d.vram).toMatchObject({ fits: false, free: 100_000_000, short: d.vram.need - 100_000_000 });
      await expect(rt.loadModel('synthetic:llama-70b', { placement: 'stream' })).rejects.toThrow(/^VRAM budget too small: placing synthetic-h8192-l80 \(stream: 0 of 80 layers resident/);
    });
  });
});

describe('describeModel checks a directory as the load does', () => {
  it('a missing tensor: the same error', async () => {
    const dir = temps.copy(GQA);
    const path = join(dir, 'model.safetensors');
    const tensors = readSafetensors(path);
    tensors.delete('model.layers.1.mlp.down_proj.weight');
    writeSafetensors(path, tensors);
    await withRuntime(undefined, async (rt) => {
      const described = (await rt.describeModel(dir).catch((e: unknown) => e)) as VramlabError;
      const loaded = (await rt.loadModel(dir).catch((e: unknown) => e)) as VramlabError;
      expect([described.code, described.message]).toEqual(['VL_ERR_FORMAT', `${path}: missing tensor 'model.layers.1.mlp.down_proj.weight'`]);
      expect([described.code, described.message]).toEqual([loaded.code, loaded.message]);
    });
  });

  it('not a directory', async () => {
    await withRuntime(undefined, async (rt) => {
      await expect(rt.describeModel('/nonexistent/model')).rejects.toThrow('/nonexistent/model: no such model directory');
    });
  });
});
