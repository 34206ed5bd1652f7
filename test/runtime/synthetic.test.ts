// Synthetic models: the spec syntax (named shapes with their real dimensions, cuts, explicit
// dimensions, errors) and loading them (seeded weights, sizes, a real-width layer on the CPU).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Logits, type Model, NAMED_SHAPES, parseSyntheticSpec, Runtime, weightBytes } from '../../runtime/index.js';
import { relativeError, vramlabError } from '../helpers.js';

describe('parseSyntheticSpec', () => {
  it.each([
    ['llama-7b', { hiddenSize: 4096, numLayers: 32, numHeads: 32, numKvHeads: 32, intermediateSize: 11008, vocabSize: 32000, headDim: 128 }],
    ['llama-13b', { hiddenSize: 5120, numLayers: 40, numHeads: 40, numKvHeads: 40, intermediateSize: 13824, vocabSize: 32000, headDim: 128 }],
    ['llama-70b', { hiddenSize: 8192, numLayers: 80, numHeads: 64, numKvHeads: 8, intermediateSize: 28672, vocabSize: 32000, headDim: 128 }],
    ['llama-3-8b', { hiddenSize: 4096, numLayers: 32, numHeads: 32, numKvHeads: 8, intermediateSize: 14336, vocabSize: 128256, headDim: 128, ropeTheta: 500000 }],
  ])('%s keeps the dimensions of the published model', (name, dims) => {
    const spec = parseSyntheticSpec(name);
    expect(spec.name).toBe(name);
    expect(spec.seed).toBe(0);
    expect(spec.shape).toMatchObject({ ...dims, dtype: 'f16', tieWordEmbeddings: false });
  });

  it('the named shapes are the published ones', () => {
    expect(Object.keys(NAMED_SHAPES)).toEqual(expect.arrayContaining(['llama-7b', 'llama-13b', 'llama-70b']));
    // Llama-2-7B has 6.74e9 parameters (f16: 13.5 GB), Llama-2-70B 6.90e10.
    expect(weightBytes(parseSyntheticSpec('llama-7b').shape) / 2).toBe(6_738_415_616);
    expect(weightBytes(parseSyntheticSpec('llama-13b').shape) / 2).toBe(13_015_864_320);
    expect(weightBytes(parseSyntheticSpec('llama-70b').shape) / 2).toBe(68_976_648_192);
  });

  it('layers=N cuts the layer count and keeps every other dimension', () => {
    const full = parseSyntheticSpec('llama-70b');
    const cut = parseSyntheticSpec('llama-70b,layers=2');
    expect(cut.name).toBe('llama-70b');
    expect(cut.shape).toEqual({ ...full.shape, numLayers: 2 });
  });

  it('dtype, seed and tie change what they name', () => {
    const s = parseSyntheticSpec('llama-7b, layers=1, dtype=bf16, seed=42, tie=1');
    expect(s.shape.dtype).toBe('bf16');
    expect(s.seed).toBe(42);
    expect(s.shape.tieWordEmbeddings).toBe(true);
    expect(s.shape.numLayers).toBe(1);
    expect(parseSyntheticSpec('llama-7b,dtype=f32').shape.dtype).toBe('f32');
    expect(parseSyntheticSpec('llama-7b,tie=0').shape.tieWordEmbeddings).toBe(false);
    expect(parseSyntheticSpec('llama-7b,rope_theta=500000,eps=1e-6').shape).toMatchObject({ ropeTheta: 500000, rmsNormEps: 1e-6 });
  });

  it('does not change the named shapes themselves', () => {
    parseSyntheticSpec('llama-7b,layers=1,vocab=10');
    expect(NAMED_SHAPES['llama-7b']).toMatchObject({ numLayers: 32, vocabSize: 32000 });
  });

  it('explicit dimensions', () => {
    const s = parseSyntheticSpec('hidden=256,layers=2,heads=4,kv_heads=2,ffn=688,vocab=1000');
    expect(s.name).toBe('custom');
    expect(s.seed).toBe(0);
    expect(s.shape).toEqual({
      vocabSize: 1000,
      hiddenSize: 256,
      intermediateSize: 688,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 64,
      maxPositionEmbeddings: 4096,
      tieWordEmbeddings: false,
      dtype: 'f16',
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
    });
    expect(parseSyntheticSpec('hidden=256,layers=2,heads=4,ffn=688,vocab=1000').shape.numKvHeads).toBe(4);
    expect(parseSyntheticSpec('hidden=256,layers=2,heads=4,ffn=688,vocab=1000,head_dim=32').shape.headDim).toBe(32);
    expect(parseSyntheticSpec('hidden=256,layers=2,heads=4,ffn=688,vocab=1000,max_pos=128').shape.maxPositionEmbeddings).toBe(128);
  });

  it.each([
    ['llama-9b', /unknown shape "llama-9b" \(known: .*llama-7b/],
    ['', /empty spec/],
    ['llama-7b,foo=1', /unknown key "foo"/],
    ['llama-7b,layers', /"layers" must be key=value/],
    ['llama-7b,layers=0', /layers must be a positive integer up to 2147483647, got "0"/],
    ['llama-7b,layers=two', /layers must be a positive integer up to 2147483647, got "two"/],
    ['llama-7b,layers=1.5', /layers must be a positive integer/],
    ['llama-7b,dtype=f8', /dtype must be f16, bf16 or f32, got "f8"/],
    ['llama-7b,tie=yes', /tie must be 0 or 1/],
    ['llama-7b,seed=-1', /seed must be a non-negative integer/],
    ['llama-7b,eps=0', /eps must be a finite positive number, got "0"/],
    ['llama-7b,layers=4294967297', /layers must be a positive integer up to 2147483647, got "4294967297"/],
    ['hidden=64,layers=2,heads=4,ffn=128', /missing vocab=/],
    ['hidden=64,layers=2,heads=3,ffn=128,vocab=10', /hidden must be a multiple of heads/],
    ['hidden=64,layers=2,heads=4,kv_heads=3,ffn=128,vocab=10', /heads \(4\) must be a multiple of kv_heads \(3\)/],
    ['hidden=64,layers=2,heads=4,ffn=128,vocab=10,head_dim=7', /head_dim \(7\) must be even/],
  ])('rejects "%s"', (spec, message) => {
    const err = vramlabError(() => parseSyntheticSpec(spec));
    expect(err.code).toBe('VL_ERR_INVALID_ARGUMENT');
    expect(err.message).toMatch(message);
    expect(err.message).toContain(`synthetic model "${spec}"`);
  });
});

describe('loading synthetic models', () => {
  const SMALL = 'hidden=64,layers=2,heads=4,kv_heads=2,ffn=128,vocab=300,max_pos=256';
  const PROMPT = [5, 17, 42, 99, 250, 3, 7];
  let rt: Runtime;
  beforeAll(async () => {
    rt = await Runtime.open({ device: 'cpu' });
  });
  afterAll(() => rt.dispose());

  async function logitsOf(source: string, ids = PROMPT): Promise<{ logits: Logits; model: Model }> {
    const model = await rt.loadModel(source);
    const s = model.createSession();
    const logits = (await s.forward(ids, { logits: 'all' })) as Logits;
    s.dispose();
    return { logits, model };
  }

  it('the same seed gives identical logits, another seed other logits', async () => {
    const a = await logitsOf(`synthetic:${SMALL},seed=1`);
    const b = await logitsOf(`synthetic:${SMALL},seed=1`);
    const c = await logitsOf(`synthetic:${SMALL},seed=2`);
    expect(a.logits.data.every(Number.isFinite)).toBe(true);
    expect(b.logits.data).toEqual(a.logits.data);
    expect(relativeError(c.logits.data, a.logits.data)).toBeGreaterThan(1e-2);
    // Not degenerate: positions and vocabulary entries differ.
    expect(relativeError(a.logits.row(0), a.logits.row(1))).toBeGreaterThan(1e-3);
    expect(Math.max(...a.logits.row(0)) - Math.min(...a.logits.row(0))).toBeGreaterThan(1e-3);
    [a, b, c].forEach((x) => x.model.dispose());
  });

  it('accepts a parsed spec and names the model after it', async () => {
    const spec = parseSyntheticSpec(`${SMALL},seed=1`);
    const m = await rt.loadModel(spec);
    expect(m.name).toBe('synthetic:custom');
    expect(m.shape).toEqual({ ...spec.shape, rmsNormEps: expect.closeTo(1e-5, 9) as number });
    const s = m.createSession();
    const direct = (await s.forward(PROMPT, { logits: 'all' })) as Logits;
    const viaString = await logitsOf(`synthetic:${SMALL},seed=1`);
    expect(direct.data).toEqual(viaString.logits.data);
    m.dispose();
    viaString.model.dispose();
  });

  it.each([
    `${SMALL}`,
    `${SMALL},dtype=f32`,
    `${SMALL},dtype=bf16`,
    `${SMALL},tie=1`,
    'hidden=96,layers=3,heads=6,kv_heads=1,ffn=200,vocab=333,max_pos=64',
    'tiny',
  ])('weightBytes(%s) equals the loaded size up to alignment padding', async (text) => {
    const spec = parseSyntheticSpec(text);
    const m = await rt.loadModel(spec);
    const tensors = 9 * spec.shape.numLayers + 2 + (spec.shape.tieWordEmbeddings ? 0 : 1);
    const loaded = m.info().weightBytes;
    const computed = weightBytes(spec.shape);
    expect(loaded).toBeGreaterThanOrEqual(computed);
    expect(loaded - computed).toBeLessThan(256 * tensors);
    const s = m.createSession();
    const logits = (await s.forward([1, 2, 3])) as Logits;
    expect(logits.data.every(Number.isFinite)).toBe(true);
    m.dispose();
  });

  it('dtypes compute the same model up to their rounding', async () => {
    const f32 = await logitsOf(`synthetic:${SMALL},dtype=f32,seed=9`);
    const f16 = await logitsOf(`synthetic:${SMALL},dtype=f16,seed=9`);
    const bf16 = await logitsOf(`synthetic:${SMALL},dtype=bf16,seed=9`);
    expect(relativeError(f16.logits.data, f32.logits.data)).toBeLessThan(1e-2);
    expect(relativeError(bf16.logits.data, f32.logits.data)).toBeLessThan(5e-2);
    expect(relativeError(f16.logits.data, f32.logits.data)).toBeGreaterThan(0);
    [f32, f16, bf16].forEach((x) => x.model.dispose());
  });

  it('tie=1 drops the LM head: V x H fewer weights', async () => {
    const untied = await rt.loadModel(`synthetic:${SMALL}`);
    const tied = await rt.loadModel(`synthetic:${SMALL},tie=1`);
    const saved = untied.info().weightBytes - tied.info().weightBytes;
    expect(saved).toBeGreaterThanOrEqual(300 * 64 * 2);
    expect(saved).toBeLessThan(300 * 64 * 2 + 256);
    untied.dispose();
    tied.dispose();
  });

  it('a cut llama-7b (one layer of real width) loads and runs on the CPU', async () => {
    const spec = parseSyntheticSpec('llama-7b,layers=1,vocab=1000');
    const m = await rt.loadModel(spec, { kvPoolTokens: 64 });
    expect(m.shape).toMatchObject({ hiddenSize: 4096, intermediateSize: 11008, numHeads: 32, numLayers: 1, vocabSize: 1000 });
    const bytes = m.info().weightBytes;
    expect(bytes).toBeGreaterThanOrEqual(weightBytes(spec.shape));
    expect(bytes).toBeGreaterThan(400e6);
    expect(rt.memory().current).toBeGreaterThanOrEqual(bytes);
    const s = m.createSession();
    const logits = (await s.forward([1, 2, 3, 4], { logits: 'all' })) as Logits;
    expect(logits.rows).toBe(4);
    expect(logits.vocab).toBe(1000);
    expect(logits.data.every(Number.isFinite)).toBe(true);
    expect(relativeError(logits.row(3), logits.row(0))).toBeGreaterThan(1e-3);
    const next = await s.decode(logits.argmax());
    expect(next.row(0).every(Number.isFinite)).toBe(true);
    m.dispose();
    expect(rt.memory().current).toBe(0);
  });
});
