// Weights stored as F16 (the fixtures), F32 and BF16 all load and compute in fp32.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cpuRuntime, editConfig, f16ToF32, GQA, readSafetensors, reference, relativeError, Temps, writeSafetensors } from '../helpers.js';

const temps = new Temps();
const rt = await cpuRuntime(temps);

/** float32 bytes -> bfloat16 bytes, rounding to nearest even. */
function f32ToBf16(data: Buffer): Buffer {
  const out = Buffer.alloc(data.length / 2);
  for (let i = 0; i < data.length / 4; i++) {
    const u = data.readUInt32LE(4 * i);
    out.writeUInt16LE(((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff, 2 * i);
  }
  return out;
}

function retyped(dtype: 'F32' | 'BF16', configDtype: string): string {
  const dir = temps.copy(GQA);
  const tensors = readSafetensors(join(GQA, 'model.safetensors'));
  for (const t of tensors.values()) {
    const f32 = f16ToF32(t.data);
    t.data = dtype === 'F32' ? f32 : f32ToBf16(f32);
    t.dtype = dtype;
  }
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  editConfig(dir, (c) => {
    c['dtype'] = configDtype;
  });
  return dir;
}

describe('weight dtypes', () => {
  const ref = reference(GQA);

  it('F32 weights (the same values as the F16 fixture) load and match transformers closely', async () => {
    const model = await rt.loadModel(retyped('F32', 'float32'));
    expect(model.shape.dtype).toBe('f32');
    expect(model.info().weightBytes).toBeGreaterThan(2 * 1.5e6);
    const logits = await model.createSession().forward(ref.input_ids, { logits: 'all' });
    // Not 1e-6: transformers' reference rotated with inv_freq rounded to fp16; an F32 model does not round.
    expect(relativeError(logits!.data, ref.logits.flat())).toBeLessThan(1e-3);
    expect(await model.createSession().generate(ref.input_ids, 8)).toEqual(ref.greedy.slice(0, 8));
    model.dispose();
  });

  it('BF16 weights load and compute the same function, to bf16 precision', async () => {
    const model = await rt.loadModel(retyped('BF16', 'bfloat16'));
    expect(model.shape.dtype).toBe('bf16');
    const logits = await model.createSession().forward(ref.input_ids, { logits: 'all' });
    const err = relativeError(logits!.data, ref.logits.flat());
    expect(err).toBeGreaterThan(1e-4); // bf16 rounding of the weights shows
    expect(err).toBeLessThan(5e-2);
    model.dispose();
  });
});
