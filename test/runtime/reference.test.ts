// The fixture models against HuggingFace transformers (reference.json), the KV cache against a full
// recompute, and the same weights stored the other ways HuggingFace stores them (transformers-4
// config, tied embeddings, sharded files), all on the CPU backend.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logits, Model } from '../../runtime/index.js';
import { cpuRuntime, editConfig, GQA, MHA, readSafetensors, reference, relativeError, type StTensor, Temps, writeSafetensors, writeSharded } from '../helpers.js';

const temps = new Temps();
const rt = await cpuRuntime(temps);

/** The logits of every position of ids, from a fresh session. */
async function allLogits(model: Model, ids: number[]): Promise<Logits> {
  const s = model.createSession();
  try {
    return (await s.forward(ids, { logits: 'all' })) as Logits;
  } finally {
    s.dispose();
  }
}

async function greedy(model: Model, ids: number[], n: number): Promise<number[]> {
  const s = model.createSession();
  try {
    return await s.generate(ids, n);
  } finally {
    s.dispose();
  }
}

describe.each([
  ['tiny-llama-gqa', GQA],
  ['tiny-llama-mha', MHA],
])('%s against transformers', (_name, dir) => {
  const ref = reference(dir);
  let model: Model;
  beforeAll(async () => {
    model = await rt.loadModel(dir);
  });
  afterAll(() => model.dispose());

  it('reads the shape of config.json', () => {
    const c = ref.logits[0]?.length;
    expect(model.shape.vocabSize).toBe(c);
    expect(model.shape.dtype).toBe('f16');
    expect(model.shape.tieWordEmbeddings).toBe(false);
  });

  it('matches the logits at every position (relative L2 error < 1e-4)', async () => {
    const logits = await allLogits(model, ref.input_ids);
    expect(logits.rows).toBe(ref.input_ids.length);
    expect(logits.vocab).toBe(model.shape.vocabSize);
    for (let pos = 0; pos < ref.input_ids.length; pos++) {
      const err = relativeError(logits.row(pos), ref.logits[pos] as number[]);
      expect(err, `position ${pos}`).toBeLessThan(1e-4);
    }
  });

  it('returns the last row alone when asked for the last position', async () => {
    const s = model.createSession();
    const last = (await s.forward(ref.input_ids)) as Logits;
    s.dispose();
    expect(last.rows).toBe(1);
    expect(relativeError(last.row(0), ref.logits[ref.input_ids.length - 1] as number[])).toBeLessThan(1e-4);
  });

  it('continues the prompt greedily exactly as transformers does', async () => {
    expect(await greedy(model, ref.input_ids, ref.greedy.length)).toEqual(ref.greedy);
  });

  it('decodes with the KV cache as a full recompute of the whole sequence does', async () => {
    // Decode steps replay the engine's recorded one-token graph; the growing recomputes in between
    // reallocate the workspace (past 32 tokens), so the graph must be re-recorded, not replayed stale.
    const s = model.createSession();
    const prefill = (await s.forward(ref.input_ids)) as Logits;
    expect(prefill.argmax()).toBe(ref.greedy[0]);
    const seq = [...ref.input_ids];
    for (let i = 0; i < ref.greedy.length; i++) {
      const token = ref.greedy[i] as number;
      seq.push(token);
      const step = await s.decode(token);
      const fresh = model.createSession();
      const full = (await fresh.forward(seq, { logits: 'last' })) as Logits;
      fresh.dispose();
      expect(relativeError(step.row(0), full.row(0)), `decode step ${i}`).toBeLessThan(1e-5);
      if (i + 1 < ref.greedy.length) expect(step.argmax(), `decode step ${i}`).toBe(ref.greedy[i + 1]);
    }
    expect(s.tokens).toBe(ref.input_ids.length + ref.greedy.length);
    s.dispose();
  });
});

describe('the same weights stored other ways', () => {
  const ref = reference(GQA);
  let base: Model;
  let baseLogits: Logits;
  beforeAll(async () => {
    base = await rt.loadModel(GQA);
    baseLogits = await allLogits(base, ref.input_ids);
  });
  afterAll(() => base.dispose());

  /** A transformers-4 config.json: rope_theta at top level, torch_dtype, no rope_parameters. */
  function transformers4(dir: string, ropeTheta: number): void {
    editConfig(dir, (c) => {
      delete c['rope_parameters'];
      delete c['dtype'];
      c['rope_theta'] = ropeTheta;
      c['rope_scaling'] = null;
      c['torch_dtype'] = 'float16';
      c['transformers_version'] = '4.46.0';
    });
  }

  it('reads a transformers-4 config.json (rope_theta at top level, torch_dtype) to the same logits', async () => {
    const dir = temps.copy(GQA);
    transformers4(dir, 10000);
    const m = await rt.loadModel(dir);
    expect(m.shape.dtype).toBe('f16');
    expect(m.shape.ropeTheta).toBe(10000);
    const logits = await allLogits(m, ref.input_ids);
    m.dispose();
    expect(logits.data).toEqual(baseLogits.data);
  });

  it('takes rope_theta from the top level of a transformers-4 config (another theta, other logits)', async () => {
    const dir = temps.copy(GQA);
    transformers4(dir, 500000);
    const m = await rt.loadModel(dir);
    expect(m.shape.ropeTheta).toBe(500000);
    const logits = await allLogits(m, ref.input_ids);
    m.dispose();
    // Position 0 has no rotation, so only later rows may differ.
    expect(logits.row(0)).toEqual(baseLogits.row(0));
    expect(relativeError(logits.data, baseLogits.data)).toBeGreaterThan(1e-4);
  });

  it('takes the dtype from the weights when config.json names none', async () => {
    const dir = temps.copy(GQA);
    editConfig(dir, (c) => {
      delete c['dtype'];
      delete c['torch_dtype'];
    });
    const m = await rt.loadModel(dir);
    expect(m.shape.dtype).toBe('f16');
    const logits = await allLogits(m, ref.input_ids);
    m.dispose();
    expect(logits.data).toEqual(baseLogits.data);
  });

  it('loads tied embeddings: no lm_head.weight, smaller weights, other logits, deterministic generation', async () => {
    const dir = temps.copy(GQA);
    editConfig(dir, (c) => {
      c['tie_word_embeddings'] = true;
    });
    const tensors = readSafetensors(join(dir, 'model.safetensors'));
    tensors.delete('lm_head.weight');
    writeSafetensors(join(dir, 'model.safetensors'), tensors);
    const m = await rt.loadModel(dir);
    expect(m.shape.tieWordEmbeddings).toBe(true);
    const { vocabSize: V, hiddenSize: H } = m.shape;
    // The untied model holds one more V x H f16 matrix, give or take the 256-byte alignment.
    const saved = base.info().weightBytes - m.info().weightBytes;
    expect(saved).toBeGreaterThanOrEqual(V * H * 2);
    expect(saved).toBeLessThan(V * H * 2 + 256);
    const logits = await allLogits(m, ref.input_ids);
    expect(logits.data.every(Number.isFinite)).toBe(true);
    expect(relativeError(logits.data, baseLogits.data)).toBeGreaterThan(1e-2);
    const a = await greedy(m, ref.input_ids, 12);
    const b = await greedy(m, ref.input_ids, 12);
    expect(a).toEqual(b);
    m.dispose();
  });

  it('a tied model computes what an untied one with the same matrix in both places computes', async () => {
    const tensors = readSafetensors(join(GQA, 'model.safetensors'));
    const head = tensors.get('lm_head.weight') as StTensor;
    // Untied, with embed_tokens := lm_head.
    const untiedDir = temps.copy(GQA);
    const untied = new Map(tensors);
    untied.set('model.embed_tokens.weight', head);
    writeSafetensors(join(untiedDir, 'model.safetensors'), untied);
    // Tied, with embed_tokens := lm_head and no lm_head.
    const tiedDir = temps.copy(GQA);
    editConfig(tiedDir, (c) => {
      c['tie_word_embeddings'] = true;
    });
    const tied = new Map(untied);
    tied.delete('lm_head.weight');
    writeSafetensors(join(tiedDir, 'model.safetensors'), tied);

    const mu = await rt.loadModel(untiedDir);
    const mt = await rt.loadModel(tiedDir);
    const lu = await allLogits(mu, ref.input_ids);
    const lt = await allLogits(mt, ref.input_ids);
    mu.dispose();
    mt.dispose();
    expect(lt.data).toEqual(lu.data);
    expect(relativeError(lu.data, baseLogits.data)).toBeGreaterThan(1e-2); // the embedding did change
  });

  it('reads sharded weights (model.safetensors.index.json) to bit-identical logits', async () => {
    const dir = temps.copy(GQA);
    const tensors = readSafetensors(join(dir, 'model.safetensors'));
    // Alternate tensors between the shards, so every layer spans both files.
    writeSharded(dir, tensors, 2, (_name, i) => i % 2);
    const m = await rt.loadModel(dir);
    expect(m.info().weightBytes).toBe(base.info().weightBytes);
    const logits = await allLogits(m, ref.input_ids);
    expect(logits.data).toEqual(baseLogits.data);
    expect(await greedy(m, ref.input_ids, ref.greedy.length)).toEqual(ref.greedy);
    m.dispose();
  });
});
