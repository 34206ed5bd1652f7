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

// Runtime.describeModelFor: the same plan for a device this machine need not have. On the CPU it is
// the CPU runtime's plan to the byte; for CUDA its backend's dtypes (an F16 KV cache and F16
// activations); where a GPU is present, what a CUDA runtime describes and then allocates.
describe('describeModelFor: a device described without opening it', () => {
  const cases: [string, string | undefined, ModelOptions][] = [
    [GQA, undefined, {}],
    [GQA, '64MB', {}],
    [GQA, '6500KB', { placement: 'auto' }],
    ['synthetic:llama-70b', '24GB', { placement: 'auto', kvPoolTokens: 1000 }],
  ];
  it.each(cases)('cpu: %s under %s, %j: the CPU runtime\'s own description', async (source, budget, options) => {
    await withRuntime(budget, async (rt) => {
      const d = await rt.describeModel(source, options);
      expect(await Runtime.describeModelFor(source, { device: 'cpu', memory: rt.memory().budget, budget }, options)).toEqual(d);
    });
  });

  it("cuda: the CUDA backend's F16 KV cache and activations, everything else the CPU's plan", async () => {
    const cpu = await Runtime.describeModelFor('synthetic:llama-70b', { device: 'cpu', memory: '80GB' });
    const cuda = await Runtime.describeModelFor('synthetic:llama-70b', { device: 'cuda:0', memory: '80GB' });
    // 80 layers x (K, V) x 8 KV heads x 128 x 2 bytes; a 2048-token step: per token 4 x 8192 (F32 residual)
    // + 2 x (8192 + 2 x 8192 + 2 x 1024 + 2 x 28672) (F16 h, q, attn, k, v, gate, up) + 4 x 32000 (F32 logits),
    // and the step's int arrays (9 x 256 + 5 x 8192 + 1024 bytes): engine.cpp's workspace.
    expect(cuda.kv).toEqual({ ...cpu.kv, dtype: 'f16', bytesPerElement: 2, bytesPerToken: 327_680, blockBytes: 5_242_880, poolBytes: 1_342_177_280 });
    expect(cuda.vram).toEqual({ ...cpu.vram, need: cpu.vram.need - 1_342_177_280, workspaceBytes: 2048 * 328_704 + 44_288, activationDtype: 'f16', fitKvPoolTokens: 0, fits: false, short: cpu.vram.short - 1_342_177_280 });
    expect([cuda.shape, cuda.weights, cuda.placement]).toEqual([cpu.shape, cpu.weights, cpu.placement]);
    expect(cuda.vram).toMatchObject({ budget: 80e9, free: 80e9 });
  });

  it('fitKvPoolTokens: the pool that leaves room for a 512-token step fits, a block more does not', async () => {
    const d = await Runtime.describeModelFor(GQA, { device: 'cpu', memory: '6MB' });
    const fit = d.vram.fitKvPoolTokens;
    expect([fit > 0, fit < d.kv.poolTokens, fit % d.kv.blockTokens]).toEqual([true, true, 0]);
    await withRuntime('6MB', async (rt) => {
      const m = await rt.loadModel(GQA, { kvPoolTokens: fit });
      await m.createSession().forward(Array.from({ length: 512 }, (_, i) => i % 400), { logits: 'last' });
      m.dispose();
      const more = await rt.loadModel(GQA, { kvPoolTokens: fit + d.kv.blockTokens });
      await expect(more.createSession().forward(Array.from({ length: 512 }, (_, i) => i % 400), { logits: 'last' })).rejects.toThrow(/^VRAM budget too small: the activation workspace/);
    });
  });

  it.each([
    [{ device: 'tpu:0', memory: '80GB' }, 'unknown device "tpu:0" (use cpu or cuda:N)'],
    [{ device: 'cuda:x', memory: '80GB' }, 'device "cuda:x": expected cuda:N with N a GPU index'],
    [{ device: 'cuda:0', memory: 0 }, "the device's memory must be larger than 0"],
    [{ device: 'cuda:0', memory: '10GB', budget: '20GB' }, "the VRAM budget must be larger than 0 and at most the device's memory (9.31 GiB), got 18.63 GiB"],
  ])('%j: %s', async (target, message) => {
    await expect(Runtime.describeModelFor(GQA, target)).rejects.toThrow(message);
  });
});

const gpu = await Runtime.open({ device: 'cuda:0' }).then(
  (rt) => (rt.dispose(), true),
  () => false,
);
describe.skipIf(!gpu)('describeModelFor(cuda:0) on a machine with the GPU', () => {
  it.each([
    [GQA, {}],
    ['synthetic:llama-7b,layers=2', { placement: 'auto' as const }],
  ])('%s: what the CUDA runtime describes, allocates, and a whole step adds', async (source, options) => {
    const rt = await Runtime.open({ device: 'cuda:0', budget: '2GB' });
    try {
      const d = await rt.describeModel(source, options);
      expect(await Runtime.describeModelFor(source, { device: 'cuda:0', memory: '2GB', budget: '2GB' }, options)).toEqual(d);
      const m = await rt.loadModel(source, options);
      expect(rt.memory().current).toBe(d.vram.need);
      await m.createSession().forward(Array.from({ length: d.vram.maxStepTokens }, (_, k) => k % d.shape.vocabSize), { logits: 'last' });
      expect(rt.memory().peak - d.vram.need).toBe(d.vram.workspaceBytes);
    } finally {
      rt.dispose();
    }
  });
});
