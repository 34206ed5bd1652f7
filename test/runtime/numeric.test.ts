// Non-finite results: a pass whose logits (or, without logits, whose last hidden state) hold a NaN or
// an infinity fails with VL_ERR_NUMERIC and a one-line message naming where the first non-finite value
// appeared (the embeddings, a decoder layer, the final norm, the output head, or a breakpoint's edited
// activation) and the position; the step is rolled back, so the same session then answers a good call
// exactly as a fresh session does. Every path: forward (logits or none), decode, generate (the prompt
// and the decode steps), batched steps (forwardBatch, the scheduler) and a breakpoint's resume.
// Config values that can only give non-finite values (a rotary frequency out of range) fail at load.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Logits, type Model, Paused, VramlabError } from '../../runtime/index.js';
import { cpuRuntime, editConfig, MHA, readSafetensors, reference, Temps, writeSafetensors } from '../helpers.js';

const temps = new Temps();
const rt = await cpuRuntime(temps);
const F16_NAN = 0x7e00;
const F16_INF = 0x7c00;
const HINT = "check the model's weights and config.json (rms_norm_eps, rope scaling)";

/** A copy of the mha fixture with element `index` of tensor `name` (F16) set to the half `bits`. */
function withHalf(name: string, index: number, bits: number): string {
  const dir = temps.copy(MHA);
  const tensors = readSafetensors(join(dir, 'model.safetensors'));
  const t = tensors.get(name);
  if (!t) throw new Error(`no tensor ${name}`);
  const data = Buffer.from(t.data);
  data.writeUInt16LE(bits, 2 * index);
  tensors.set(name, { ...t, data });
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  return dir;
}

/** The VramlabError a call rejects with (the test fails when it resolves). */
async function rejection(p: Promise<unknown>): Promise<VramlabError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, 'expected a VramlabError').toBeInstanceOf(VramlabError);
  return err as VramlabError;
}

/** [code, message] of the call's VramlabError. */
async function numeric(p: Promise<unknown>): Promise<[string, string]> {
  const e = await rejection(p);
  return [e.code, e.message];
}

/** The last-position logits of `calls` run in order on a fresh session of m. */
async function fresh(m: Model, ...calls: number[][]): Promise<Float32Array> {
  const s = m.createSession();
  let last: Logits | null = null;
  for (const ids of calls) last = (await s.forward(ids)) as Logits;
  s.dispose();
  return (last as Logits).row(0);
}

// Token 51 (the fixture's first greedy pick after reference.input_ids, which do not hold it) has a NaN
// in its embedding row: every pass that runs it is NaN from the embedding on; every other pass is fine.
const ROW = 51;
const ref = reference(MHA);
const embedNan = await rt.loadModel(withHalf('model.embed_tokens.weight', ROW * 64 + 5, F16_NAN));
afterAll(() => embedNan.dispose());
const embedMessage = (what: string, position: number) =>
  `the forward pass produced ${what}: the first non-finite value is in the token embeddings (embed_tokens) at position ${position}; ${HINT}`;

describe('a NaN or an infinity in the weights', () => {
  it('NaN in decoder layer 1: forward, logits none, decode and generate fail naming the layer; nothing is kept', async () => {
    const held = rt.memory().current;
    const m = await rt.loadModel(withHalf('model.layers.1.mlp.down_proj.weight', 7, F16_NAN));
    const s = m.createSession();
    const inLayer1 = `the first non-finite value is in the output of decoder layer 1 (of layers 0-1) at position 0; ${HINT}`;
    expect(await numeric(s.forward([5, 7, 9]))).toEqual(['VL_ERR_NUMERIC', `the forward pass produced NaN logits: ${inLayer1}`]);
    expect(await numeric(s.forward([5, 7, 9], { logits: 'none' }))).toEqual([
      'VL_ERR_NUMERIC',
      `the forward pass produced a NaN value in the last position's hidden state: ${inLayer1}`,
    ]);
    expect(await numeric(s.decode(5))).toEqual(['VL_ERR_NUMERIC', `the forward pass produced NaN logits: ${inLayer1}`]);
    expect(await numeric(s.generate([5, 7], 3))).toEqual([
      'VL_ERR_NUMERIC',
      `the forward pass produced a NaN value in the last position's hidden state: ${inLayer1}`,
    ]);
    expect([s.tokens, s.blocks]).toEqual([0, 0]);
    m.dispose();
    expect(rt.memory().current).toBe(held);
  });

  it.each(['stream', 'stream-sync', 'accelerate'] as const)('NaN in decoder layer 1 of a model whose layers stream (%s): the same layer named', async (placement) => {
    const m = await rt.loadModel(withHalf('model.layers.1.mlp.down_proj.weight', 7, F16_NAN), { placement });
    expect(m.info().placement).toBe(placement);
    const s = m.createSession();
    expect(await numeric(s.forward([5, 7, 9]))).toEqual([
      'VL_ERR_NUMERIC',
      `the forward pass produced NaN logits: the first non-finite value is in the output of decoder layer 1 (of layers 0-1) at position 0; ${HINT}`,
    ]);
    expect(s.tokens).toBe(0);
    m.dispose();
  });

  it('+inf in the output head: infinite logits, located in lm_head at the last position', async () => {
    const m = await rt.loadModel(withHalf('lm_head.weight', 10 * 64 + 3, F16_INF));
    const s = m.createSession();
    expect(await numeric(s.forward([5, 7, 9]))).toEqual([
      'VL_ERR_NUMERIC',
      `the forward pass produced infinite logits: the first non-finite value is in the output head (lm_head) at position 2; ${HINT}`,
    ]);
    expect(s.tokens).toBe(0);
    m.dispose();
  });

  it('+inf in the final norm: located in model.norm, for every row asked for', async () => {
    const m = await rt.loadModel(withHalf('model.norm.weight', 3, F16_INF));
    const s = m.createSession();
    expect(await numeric(s.forward([5, 7, 9], { logits: 'all' }))).toEqual([
      'VL_ERR_NUMERIC',
      `the forward pass produced infinite logits: the first non-finite value is in the final norm (model.norm) at position 0; ${HINT}`,
    ]);
    expect(s.tokens).toBe(0);
    m.dispose();
  });

  it('a NaN embedding row: the failed step is rolled back, and the session then answers as a fresh one', async () => {
    const s = embedNan.createSession();
    await s.forward([5]);
    expect(await numeric(s.forward([7, ROW]))).toEqual(['VL_ERR_NUMERIC', embedMessage('NaN logits', 2)]);
    expect(s.tokens).toBe(1);
    const logits = ((await s.forward([7, 9])) as Logits).row(0);
    expect(logits).toEqual(await fresh(embedNan, [5], [7, 9]));
    s.dispose();
  });

  it('generate: a decode step whose token has the NaN row fails at its position; the prompt is given back too', async () => {
    const s = embedNan.createSession();
    await s.forward([5]);
    expect(await numeric(s.generate(ref.input_ids, 3))).toEqual([
      'VL_ERR_NUMERIC',
      embedMessage('non-finite logits', 1 + ref.input_ids.length),
    ]);
    expect(s.tokens).toBe(1);
    expect(((await s.forward([7, 9])) as Logits).row(0)).toEqual(await fresh(embedNan, [5], [7, 9]));
    // Without the NaN row in its way, the same model generates as the fixture's reference does.
    s.reset();
    expect(await s.generate(ref.input_ids, 1)).toEqual(ref.greedy.slice(0, 1));
    s.dispose();
  });

  it('forwardBatch: the item with the NaN row is left out with VL_ERR_NUMERIC, the others run as alone', async () => {
    const [a, b, c] = [embedNan.createSession(), embedNan.createSession(), embedNan.createSession()];
    await b.forward([5, 7]);
    const out = await embedNan.forwardBatch([
      { session: a, ids: [5, 7, 9] },
      { session: b, ids: [ROW] },
      { session: c, ids: [9] },
    ]);
    expect(out.map((r) => r.error?.code ?? null)).toEqual([null, 'VL_ERR_NUMERIC', null]);
    expect(out[1]?.error?.message).toBe(embedMessage('non-finite logits', 2));
    expect([a.tokens, b.tokens, c.tokens]).toEqual([3, 2, 1]);
    expect(out[0]?.logits?.row(0)).toEqual(await fresh(embedNan, [5, 7, 9]));
    expect(((await b.forward([9])) as Logits).row(0)).toEqual(await fresh(embedNan, [5, 7], [9]));
    for (const s of [a, b, c]) s.dispose();
  });

  it('the scheduler: work that runs the NaN row rejects with VL_ERR_NUMERIC, other work completes', async () => {
    const sched = embedNan.scheduler({ prefillChunk: 64, maxBatch: 8 });
    const [bad, good] = [embedNan.createSession(), embedNan.createSession()];
    const [e, done] = await Promise.all([rejection(sched.submit(bad, [5, ROW], 2)), sched.submit(good, ref.input_ids, 1)]);
    expect([e.code, e.message]).toEqual(['VL_ERR_NUMERIC', embedMessage('non-finite logits', 1)]);
    expect(done.tokens).toEqual(ref.greedy.slice(0, 1));
    expect(bad.tokens).toBe(0);
    for (const s of [bad, good]) s.dispose();
  });
});

describe('a breakpoint resume', () => {
  it.each([false, true])('an activation set to hold +inf (offload %s): the resume fails naming the breakpoint and position; the session is as before the step', async (offload) => {
    const m = await rt.loadModel(MHA);
    const s = m.createSession();
    await s.forward([5]);
    const p = await s.forward([7, 9], { breakpoints: [0], offload });
    expect(p).toBeInstanceOf(Paused);
    const paused = p as Paused;
    const x = paused.activation().slice();
    x[64 + 4] = Infinity; // row 1 of (2, 64): position 2
    paused.setActivation(x);
    expect(await numeric(paused.resume())).toEqual([
      'VL_ERR_NUMERIC',
      'the forward pass produced NaN logits: the first non-finite value is in the activation at the breakpoint after decoder layer 0, as edited, at position 2; check the values written or added to it',
    ]);
    expect([s.tokens, s.paused]).toEqual([1, null]);
    expect(((await s.forward([7, 9])) as Logits).row(0)).toEqual(await fresh(m, [5], [7, 9]));
    m.dispose();
  });

  it('a resume from an activation already NaN at the pause names the layer before the pause, not the edit', async () => {
    const m = await rt.loadModel(withHalf('model.layers.0.mlp.down_proj.weight', 7, F16_NAN));
    const s = m.createSession();
    const p = (await s.forward([5, 7], { breakpoints: [0] })) as Paused;
    p.scale(0.5);
    expect(await numeric(p.resume())).toEqual([
      'VL_ERR_NUMERIC',
      `the forward pass produced NaN logits: the first non-finite value is in the output of decoder layer 0 (of layers 0-1) at position 0; ${HINT}`,
    ]);
    expect(s.tokens).toBe(0);
    m.dispose();
  });

  it('a resume of a model with a NaN in a later layer names that layer', async () => {
    const m = await rt.loadModel(withHalf('model.layers.1.self_attn.v_proj.weight', 2, F16_NAN));
    const s = m.createSession();
    const p = (await s.forward([5, 7], { breakpoints: [0] })) as Paused;
    expect(await numeric(p.resume())).toEqual([
      'VL_ERR_NUMERIC',
      `the forward pass produced NaN logits: the first non-finite value is in the output of decoder layer 1 (of layers 0-1) at position 0; ${HINT}`,
    ]);
    expect(s.tokens).toBe(0);
    m.dispose();
  });
});

describe('the logit lens of a paused step', () => {
  it('an activation set to hold NaN: the lens fails naming the breakpoint and position; the pause is kept', async () => {
    const m = await rt.loadModel(MHA);
    const s = m.createSession();
    await s.forward([5]);
    const paused = (await s.forward([7, 9], { breakpoints: [0] })) as Paused;
    const x = paused.activation().slice();
    const bad = x.slice();
    bad[64 + 4] = NaN; // row 1 of (2, 64): position 2
    paused.setActivation(bad);
    const message =
      'the logit lens produced NaN logits: the activation at the breakpoint after decoder layer 0 (as edited) is not finite at position 2; check the values written or added to it, or the weights of the layers before';
    expect(await numeric(paused.lens(2))).toEqual(['VL_ERR_NUMERIC', message]);
    expect(await numeric(paused.lens(1))).toEqual(['VL_ERR_NUMERIC', message]);
    paused.setActivation(x);
    expect((await paused.lens(2)).rows).toBe(2);
    expect(((await paused.resume()) as Logits).row(0)).toEqual(await fresh(m, [5], [7, 9]));
    m.dispose();
  });
});

describe('config values that only give non-finite values fail at load', () => {
  it('a rope scaling factor whose rotary frequency overflows the model dtype (F16): 1e-5 gave NaN logits', async () => {
    const dir = temps.copy(MHA);
    editConfig(dir, (c) => Object.assign(c, { rope_parameters: { rope_theta: 10000, rope_type: 'linear', factor: 1e-5 } }));
    expect(await numeric(rt.loadModel(dir))).toEqual([
      'VL_ERR_FORMAT',
      `${join(dir, 'config.json')}: rope_theta 10000 and rope scaling factor 1e-05 put the rotary frequency inv_freq[0] above the F16 range: use a larger factor or rope_theta`,
    ]);
  });

  it('a rope scaling factor of 1e-4 still loads and runs finite', async () => {
    const dir = temps.copy(MHA);
    editConfig(dir, (c) => Object.assign(c, { rope_parameters: { rope_theta: 10000, rope_type: 'linear', factor: 1e-4 } }));
    const m = await rt.loadModel(dir);
    const logits = ((await m.createSession().forward([5, 7, 9])) as Logits).row(0);
    expect(logits.every((v) => Number.isFinite(v))).toBe(true);
    m.dispose();
  });
});
