// Loading progress (issue 18): Runtime.loadModel's onProgress, polled from the native load counters
// (vl_runtime_load_progress) while the load runs on a worker thread: done <= total, never decreasing,
// the last call done === total === the model's weight bytes; a failed load calls nothing; and the C
// function refuses NULL pointers with an invalid-argument status instead of crashing.
import { join } from 'node:path';
import koffi from 'koffi';
import { describe, expect, it } from 'vitest';
import { packageRoot, type Runtime, VramlabError } from '../../runtime/index.js';
import { native } from '../../runtime/native.js';
import { cpuRuntime, GQA, MHA } from '../helpers.js';

const rt: Runtime = await cpuRuntime();

async function loadWatched(source: string, options: { placement?: 'resident' | 'stream' } = {}) {
  const calls: [number, number][] = [];
  const t0 = performance.now();
  const model = await rt.loadModel(source, { ...options, onProgress: (done, total) => calls.push([done, total]) });
  const ms = performance.now() - t0;
  const bytes = model.info().weightBytes;
  model.dispose();
  return { calls, ms, bytes };
}

function expectProgress(calls: [number, number][], bytes: number): void {
  expect(calls.length).toBeGreaterThan(0);
  for (const [done, total] of calls) {
    expect(done).toBeGreaterThanOrEqual(0);
    expect(done).toBeLessThanOrEqual(total);
  }
  for (let i = 1; i < calls.length; i++) {
    const [d0, t0] = calls[i - 1] as [number, number];
    const [d1, t1] = calls[i] as [number, number];
    expect(d1).toBeGreaterThanOrEqual(d0);
    expect(t1).toBeGreaterThanOrEqual(t0);
    expect([d1, t1]).not.toEqual([d0, t0]); // no call repeats the one before
  }
  expect(calls.at(-1)).toEqual([bytes, bytes]);
}

describe('Runtime.loadModel onProgress', () => {
  it.each([GQA, MHA])('a fixture model (%s): the last call is done === total === its weight bytes', async (dir) => {
    const { calls, bytes } = await loadWatched(dir);
    expect(bytes).toBeGreaterThan(0);
    expectProgress(calls, bytes);
  });

  // 2 layers of hidden 1024 and ffn 4096, a 32000-token vocabulary: 189 MiB of F16 to generate.
  const SPEC = 'synthetic:hidden=1024,layers=2,heads=8,kv_heads=8,ffn=4096,vocab=32000';
  it.each(['resident', 'stream'] as const)('a synthetic spec (%s): calls while it generates, monotone, done === total last', async (placement) => {
    const { calls, ms, bytes } = await loadWatched(SPEC, { placement });
    expectProgress(calls, bytes);
    // Polled every ~100 ms: a load of more than 400 ms was seen part-way at least once.
    if (ms > 400) expect(calls.some(([d, t]) => d < t)).toBe(true);
  });

  it('a failed load calls nothing, and the counters read 0 of 0 after it', async () => {
    const calls: number[][] = [];
    await expect(rt.loadModel(join(GQA, 'no-such-dir'), { onProgress: (d, t) => calls.push([d, t]) })).rejects.toThrow(VramlabError);
    await expect(rt.loadModel('synthetic:llama-70b', { onProgress: (d, t) => calls.push([d, t]) })).rejects.toMatchObject({ code: 'VL_ERR_OUT_OF_MEMORY' });
    expect(calls).toEqual([]);
    expect(native.runtimeLoadProgress(rt._handle())).toEqual({ done: 0, total: 0 });
  });

  it('a callback that throws fails the load with its error, and leaves no model behind', async () => {
    const boom = new Error('boom');
    await expect(
      rt.loadModel(GQA, {
        onProgress: () => {
          throw boom;
        },
      }),
    ).rejects.toBe(boom);
    rt._handle(); // the runtime is still live
    const m = await rt.loadModel(GQA); // and loads
    m.dispose();
  });
});

describe('vl_runtime_load_progress through the C ABI', () => {
  // The library the runtime bound (runtime/native.ts: VRAMLAB_LIB, else the build's).
  const lib = koffi.load(process.env['VRAMLAB_LIB'] || join(packageRoot(), 'native', 'build', 'libvramlab.so'));
  const progress = lib.func('int32_t vl_runtime_load_progress(void *rt, void *done, void *total)');
  const lastError = lib.func('const char *vl_last_error(void)');

  it('a NULL runtime, done or total: VL_ERR_INVALID_ARGUMENT (-1) naming it, no crash', () => {
    const done = new BigUint64Array(1);
    const total = new BigUint64Array(1);
    expect(progress(null, done, total)).toBe(-1);
    expect(lastError()).toBe('runtime is NULL');
    expect(progress(rt._handle(), null, total)).toBe(-1);
    expect(lastError()).toBe('done is NULL');
    expect(progress(rt._handle(), done, null)).toBe(-1);
    expect(lastError()).toBe('total is NULL');
    expect(progress(rt._handle(), done, total)).toBe(0);
    expect([done[0], total[0]]).toEqual([0n, 0n]);
  });
});
