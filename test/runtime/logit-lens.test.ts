// The logit lens (Paused.lens, vl_session_lens): the final norm and output head applied to a paused
// residual stream. After the last layer it is the step's own logits; at an earlier layer it leaves the
// step unchanged; edits made before it are seen; offloaded pauses work too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Logits, type Model, Paused, Runtime, VramlabError } from '../../runtime/index.js';
import { GQA, reference, relativeError } from '../helpers.js';

const ref = reference(GQA);
const IDS = ref.input_ids;
let rt: Runtime;
let model: Model;
let plain: Logits;

beforeAll(async () => {
  rt = await Runtime.open({ device: 'cpu' });
  model = await rt.loadModel(GQA);
  plain = (await model.createSession().forward(IDS, { logits: 'all' })) as Logits;
});
afterAll(() => rt.dispose());

async function pausedAt(layer: number, offload = false): Promise<Paused> {
  const p = await model.createSession().forward(IDS, { logits: 'all', breakpoints: [layer], offload });
  if (!(p instanceof Paused)) throw new Error('expected a pause');
  return p;
}

describe('Paused.lens', () => {
  it.each([false, true])('after the last layer is the model\'s own logits, every row (offload %s)', async (offload) => {
    const p = await pausedAt(3, offload);
    const lens = await p.lens(IDS.length);
    expect(lens.rows).toBe(IDS.length);
    expect(relativeError(lens.data, plain.data)).toBeLessThan(1e-6);
    expect(relativeError((await p.lens()).row(0), ref.logits[IDS.length - 1] as number[])).toBeLessThan(1e-4);
    const out = (await p.resume()) as Logits;
    expect(Array.from(out.data)).toEqual(Array.from(plain.data));
  });

  it('at an earlier layer differs from the logits and leaves the step as it was', async () => {
    const p = await pausedAt(1);
    const lens = await p.lens();
    expect(relativeError(lens.row(0), plain.row(IDS.length - 1))).toBeGreaterThan(1e-2);
    const out = (await p.resume()) as Logits;
    expect(Array.from(out.data)).toEqual(Array.from(plain.data));
  });

  it('sees the pending edits', async () => {
    const p = await pausedAt(3);
    const before = await p.lens();
    p.scale(0.5); // RMS norm makes a scale of the whole residual invisible to the head...
    expect(relativeError((await p.lens()).row(0), before.row(0))).toBeLessThan(1e-5);
    p.add(Float32Array.from({ length: 128 }, (_, i) => (i % 7) - 3)); // ...an added vector is not
    const edited = await p.lens();
    expect(relativeError(edited.row(0), before.row(0))).toBeGreaterThan(1e-2);
    const out = (await p.resume()) as Logits;
    expect(relativeError(out.row(IDS.length - 1), edited.row(0))).toBeLessThan(1e-6);
  });

  it('checks its rows and its state', async () => {
    const p = await pausedAt(0);
    await expect(p.lens(0)).rejects.toThrow(/1 to 24 rows/);
    await expect(p.lens(25)).rejects.toBeInstanceOf(VramlabError);
    p.abort();
    await expect(p.lens()).rejects.toThrow(/cannot apply the logit lens to this pause \(after layer 0\): it was aborted/);
  });
});
