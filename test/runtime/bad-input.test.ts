// Bad input: each failure is a VramlabError with a stable code and a one-line message naming the file
// or tensor at fault, and the runtime that saw it stays usable (a good model loads and runs in it,
// and the failed load left no device memory behind).
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ErrorCode, type Logits, type Model, Runtime, type Session, VramlabError } from '../../runtime/index.js';
import { cpuRuntime, editConfig, f16ToF32, GQA, MHA, readSafetensors, reference, relativeError, type StTensor, Temps, writeSafetensors, writeSharded } from '../helpers.js';

const temps = new Temps();
const rt = await cpuRuntime(temps);

/** Awaits a promise (or runs a function) that must fail with a one-line VramlabError of `code`. */
async function failure(run: Promise<unknown> | (() => unknown), code: ErrorCode, ...mentions: Array<string | RegExp>): Promise<VramlabError> {
  let err: unknown = null;
  try {
    await (typeof run === 'function' ? run() : run);
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a VramlabError').toBeInstanceOf(VramlabError);
  const e = err as VramlabError;
  expect(e.code, e.message).toBe(code);
  expect(e.message, 'one line').not.toContain('\n');
  expect(e.message.length).toBeLessThan(400);
  for (const m of mentions) {
    if (typeof m === 'string') expect(e.message).toContain(m);
    else expect(e.message).toMatch(m);
  }
  return e;
}

/** The runtime still works: nothing of the failed load is held, and a good model loads and runs. */
async function stillUsable(runtime: Runtime = rt): Promise<void> {
  expect(runtime.memory().current).toBe(0);
  const ref = reference(MHA);
  const m = await runtime.loadModel(MHA);
  const s = m.createSession();
  const logits = (await s.forward(ref.input_ids)) as Logits;
  expect(relativeError(logits.row(0), ref.logits[ref.input_ids.length - 1] as number[])).toBeLessThan(1e-4);
  m.dispose();
  expect(runtime.memory().current).toBe(0);
}

const ST = 'model.safetensors';

/** A copy of the mha fixture whose model.safetensors is rewritten after `change`. */
function withTensors(change: (t: Map<string, StTensor>) => void, edit?: (h: Record<string, unknown>) => void): string {
  const dir = temps.copy(MHA);
  const tensors = readSafetensors(join(dir, ST));
  change(tensors);
  writeSafetensors(join(dir, ST), tensors, edit);
  return dir;
}

describe('config.json', () => {
  afterEach(() => stillUsable());

  it('missing', async () => {
    const dir = temps.copy(MHA);
    rmSync(join(dir, 'config.json'));
    await failure(rt.loadModel(dir), 'VL_ERR_IO', join(dir, 'config.json'));
  });

  it('not JSON', async () => {
    const dir = temps.copy(MHA);
    writeFileSync(join(dir, 'config.json'), '{"architectures": ["LlamaForCausalLM"],\n "hidden_size": 64,,\n}');
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', join(dir, 'config.json'), /JSON/);
  });

  it('not an object', async () => {
    const dir = temps.copy(MHA);
    writeFileSync(join(dir, 'config.json'), '[1, 2, 3]');
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', join(dir, 'config.json'));
  });

  it('an unsupported architecture', async () => {
    const dir = temps.copy(MHA);
    editConfig(dir, (c) => {
      c['architectures'] = ['GPT2LMHeadModel'];
      c['model_type'] = 'gpt2';
    });
    await failure(rt.loadModel(dir), 'VL_ERR_UNSUPPORTED', join(dir, 'config.json'), 'GPT2LMHeadModel');
  });

  it('a missing dimension', async () => {
    const dir = temps.copy(MHA);
    editConfig(dir, (c) => {
      delete c['vocab_size'];
    });
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', join(dir, 'config.json'), 'vocab_size');
  });

  it('a dimension of the wrong type', async () => {
    const dir = temps.copy(MHA);
    editConfig(dir, (c) => {
      c['hidden_size'] = '64';
    });
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', join(dir, 'config.json'), 'hidden_size');
  });
});

describe('safetensors files', () => {
  afterEach(() => stillUsable());

  it('truncated in the middle of the data', async () => {
    const dir = temps.copy(MHA);
    const path = join(dir, ST);
    const size = readFileSync(path).length;
    truncateSync(path, Math.floor(size / 2));
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', path, /truncated|outside the data/);
  });

  it('shorter than the 8-byte header length', async () => {
    const dir = temps.copy(MHA);
    const path = join(dir, ST);
    truncateSync(path, 5);
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', path, /truncated/);
  });

  it('a header length past the end of the file', async () => {
    const dir = temps.copy(MHA);
    const path = join(dir, ST);
    const buf = readFileSync(path);
    buf.writeBigUInt64LE(BigInt(buf.length), 0);
    writeFileSync(path, buf);
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', path, /header length \d+ runs past the end of the file/);
  });

  it('a header that is not JSON', async () => {
    const dir = temps.copy(MHA);
    const path = join(dir, ST);
    const buf = readFileSync(path);
    buf.write('{"x": [1, 2\n', 8, 'utf8'); // same length: the header length stays right
    writeFileSync(path, buf);
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', path, /not valid JSON/);
  });

  it("a tensor's byte range outside the data", async () => {
    const name = 'model.norm.weight';
    let total = 0;
    const dir = withTensors(
      (t) => {
        for (const x of t.values()) total += x.data.length;
      },
      (h) => {
        (h[name] as { data_offsets: number[] }).data_offsets = [total, total + 128];
      },
    );
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', join(dir, ST), `'${name}'`, /outside the data/);
  });

  it("a tensor's byte count disagreeing with its own shape", async () => {
    const name = 'model.layers.0.input_layernorm.weight';
    const dir = withTensors(
      () => {},
      (h) => {
        (h[name] as { shape: number[] }).shape = [65];
      },
    );
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', join(dir, ST), `'${name}'`, '[65]');
  });

  it('no weights at all', async () => {
    const dir = temps.copy(MHA);
    rmSync(join(dir, ST));
    await failure(rt.loadModel(dir), 'VL_ERR_IO', dir, /model\.safetensors/);
  });

  it('a shard that the index names but that is missing', async () => {
    const dir = temps.copy(MHA);
    writeSharded(dir, readSafetensors(join(dir, ST)), 2, (_n, i) => (i < 5 ? 0 : 1));
    const shard = join(dir, 'model-00002-of-00002.safetensors');
    rmSync(shard);
    await failure(rt.loadModel(dir), 'VL_ERR_IO', shard);
  });

  it('a tensor that the index names but its shard lacks', async () => {
    const dir = temps.copy(MHA);
    const tensors = readSafetensors(join(dir, ST));
    writeSharded(dir, tensors, 2, (_n, i) => (i < 5 ? 0 : 1));
    const shard = join(dir, 'model-00002-of-00002.safetensors');
    const second = readSafetensors(shard);
    second.delete('model.norm.weight');
    writeSafetensors(shard, second);
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', shard, "'model.norm.weight'");
  });
});

describe('tensors checked against config.json', () => {
  afterEach(() => stillUsable());
  const Q = 'model.layers.0.self_attn.q_proj.weight';

  it('a tensor stored with another shape', async () => {
    const dir = withTensors((t) => {
      const q = t.get(Q) as StTensor;
      t.set(Q, { ...q, shape: [32, 128] }); // the same bytes as [64, 64]
    });
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', join(dir, ST), `'${Q}'`, '[32, 128]', '[64, 64]');
  });

  it('a config implying other shapes', async () => {
    const dir = temps.copy(MHA);
    editConfig(dir, (c) => {
      c['num_attention_heads'] = 2; // head_dim stays 16: q_proj should be [32, 64]
      c['num_key_value_heads'] = 2;
    });
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', join(dir, ST), `'${Q}'`, '[64, 64]', '[32, 64]');
  });

  it('a tensor of another dtype than config.json declares', async () => {
    const name = 'model.layers.1.mlp.up_proj.weight';
    const dir = withTensors((t) => {
      const x = t.get(name) as StTensor;
      t.set(name, { dtype: 'F32', shape: x.shape, data: f16ToF32(x.data) });
    });
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', join(dir, ST), `'${name}'`, 'F32', /F16|float16/);
  });

  it('a missing tensor', async () => {
    const name = 'model.layers.1.mlp.down_proj.weight';
    const dir = withTensors((t) => t.delete(name));
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', join(dir, ST), `'${name}'`, /missing/);
  });

  it('a missing lm_head with untied embeddings', async () => {
    const dir = withTensors((t) => t.delete('lm_head.weight'));
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', "'lm_head.weight'", 'tie_word_embeddings');
  });
});

describe('arguments', () => {
  it('a nonexistent model directory', async () => {
    await failure(rt.loadModel('/nonexistent/vramlab-model'), 'VL_ERR_IO', '/nonexistent/vramlab-model');
    await stillUsable();
  });

  it('a file where a model directory is expected', async () => {
    const path = join(MHA, 'config.json');
    await failure(rt.loadModel(path), 'VL_ERR_IO', path);
    await stillUsable();
  });

  it('a token id outside the vocabulary', async () => {
    const m = await rt.loadModel(MHA);
    const s = m.createSession();
    await failure(s.forward([0, 999999]), 'VL_ERR_INVALID_ARGUMENT', '999999', 'position 1', '0..255');
    await failure(s.forward([3, -1]), 'VL_ERR_INVALID_ARGUMENT', '-1', 'position 1');
    await failure(s.forward([2.5]), 'VL_ERR_INVALID_ARGUMENT', '2.5', 'position 0');
    await failure(s.generate([1, 256], 3), 'VL_ERR_INVALID_ARGUMENT', '256', 'position 1');
    await failure(s.forward([]), 'VL_ERR_INVALID_ARGUMENT');
    expect(s.tokens).toBe(0);
    const ref = reference(MHA);
    const logits = (await s.forward(ref.input_ids)) as Logits;
    expect(relativeError(logits.row(0), ref.logits[ref.input_ids.length - 1] as number[])).toBeLessThan(1e-4);
    m.dispose();
    await stillUsable();
  });

  it('a budget too small for the weights', async () => {
    const small = await Runtime.open({ device: 'cpu', budget: '64KB' });
    try {
      expect(small.memory().budget).toBe(64000);
      await failure(small.loadModel(GQA), 'VL_ERR_OUT_OF_MEMORY', /budget/, '--budget');
      expect(small.memory().current).toBe(0);
      // The runtime still works within its budget: a model that fits loads and runs.
      const m = await small.loadModel('synthetic:hidden=16,layers=1,heads=2,ffn=32,vocab=32,max_pos=16');
      const s = m.createSession();
      const logits = (await s.forward([1, 2, 3])) as Logits;
      expect(logits.data.every(Number.isFinite)).toBe(true);
      expect(small.memory().peak).toBeLessThanOrEqual(64000);
      m.dispose();
      expect(small.memory().current).toBe(0);
    } finally {
      small.dispose();
    }
    await stillUsable();
  });

  it('a budget with no room for a long prompt fails that step and keeps the session', async () => {
    // Measure what the model and a short step need, then give exactly that: a long prompt's
    // activations cannot fit, a short step still can.
    const probe = await Runtime.open({ device: 'cpu' });
    const pm = await probe.loadModel(MHA);
    const ps = pm.createSession();
    await ps.forward([1, 2, 3]);
    const need = probe.memory().peak;
    probe.dispose();

    const tight = await Runtime.open({ device: 'cpu', budget: need });
    try {
      const m = await tight.loadModel(MHA);
      const s = m.createSession();
      await s.forward([1, 2, 3]);
      await failure(s.forward(Array.from({ length: 200 }, (_, i) => i % 256)), 'VL_ERR_OUT_OF_MEMORY', /budget/);
      expect(s.tokens).toBe(3);
      expect(s.blocks).toBe(1);
      const step = await s.decode(4);
      const ok = m.createSession();
      const want = (await ok.forward([1, 2, 3, 4])) as Logits;
      expect(relativeError(step.row(0), want.row(0))).toBeLessThan(1e-6);
      expect(tight.memory().peak).toBeLessThanOrEqual(need);
    } finally {
      tight.dispose();
    }
  });

  it('an unparseable budget', async () => {
    await failure(Runtime.open({ device: 'cpu', budget: '12 parsecs' }), 'VL_ERR_INVALID_ARGUMENT', '12 parsecs');
    await failure(Runtime.open({ device: 'cpu', budget: 0 }), 'VL_ERR_INVALID_ARGUMENT', /budget/);
    await stillUsable();
  });

  it('an unknown device', async () => {
    await failure(Runtime.open({ device: 'tpu:0' }), 'VL_ERR_INVALID_ARGUMENT', 'tpu:0');
    await failure(Runtime.open({ device: 'cuda:x' }), 'VL_ERR_INVALID_ARGUMENT', 'cuda:x');
    await stillUsable();
  });

  it('bad model options', async () => {
    await failure(rt.loadModel(MHA, { kvBlockTokens: 0 }), 'VL_ERR_INVALID_ARGUMENT', 'kvBlockTokens');
    await failure(rt.loadModel(MHA, { kvPoolTokens: 1.5 }), 'VL_ERR_INVALID_ARGUMENT', 'kvPoolTokens');
    await stillUsable();
  });
});

/** A model with a session that has run a step. */
async function stepped(): Promise<{ m: Model; s: Session }> {
  const m = await rt.loadModel(MHA);
  const s = m.createSession();
  await s.forward([1, 2]);
  return { m, s };
}

describe('calls in the wrong state', () => {
  it('a disposed session', async () => {
    const { m, s } = await stepped();
    s.dispose();
    expect(s.disposed).toBe(true);
    s.dispose(); // twice is fine
    await failure(s.forward([1]), 'VL_ERR_STATE', /disposed/);
    await failure(s.decode(1), 'VL_ERR_STATE');
    await failure(s.generate([1], 2), 'VL_ERR_STATE');
    await failure(() => s.tokens, 'VL_ERR_STATE');
    await failure(() => s.reset(), 'VL_ERR_STATE');
    expect(m.info().kvFreeBlocks).toBe(m.info().kvPoolBlocks);
    m.dispose();
    await stillUsable();
  });

  it('a disposed model, and the sessions it disposed with it', async () => {
    const { m, s } = await stepped();
    m.dispose();
    expect(m.disposed).toBe(true);
    expect(s.disposed).toBe(true);
    await failure(() => m.createSession(), 'VL_ERR_STATE', /disposed/);
    await failure(() => m.info(), 'VL_ERR_STATE');
    await failure(s.forward([1]), 'VL_ERR_STATE');
    await stillUsable();
  });

  it('a disposed runtime, and the models it disposed with it', async () => {
    const other = await Runtime.open({ device: 'cpu' });
    const m = await other.loadModel(MHA);
    const s = m.createSession();
    other.dispose();
    expect(other.disposed).toBe(true);
    expect(m.disposed).toBe(true);
    expect(s.disposed).toBe(true);
    await failure(other.loadModel(MHA), 'VL_ERR_STATE', /disposed/);
    await failure(() => other.memory(), 'VL_ERR_STATE');
    await failure(() => other.deviceName(), 'VL_ERR_STATE');
    await failure(() => m.createSession(), 'VL_ERR_STATE');
    await failure(s.forward([1]), 'VL_ERR_STATE');
    await stillUsable();
  });

  it('disposing a runtime while a model load is in flight', () => {
    // In a child process (the compiled runtime in dist/), so that a crash fails this test instead of
    // killing the test worker. Either dispose() refuses (VL_ERR_STATE) and the load completes, or
    // dispose() succeeds and the load fails with VL_ERR_STATE; the process must survive either way.
    // (A race: repeated so that a use-after-free shows up reliably.)
    const script = `
      import { Runtime } from ${JSON.stringify(join(import.meta.dirname, '..', '..', 'dist', 'runtime', 'index.js'))};
      const out = [];
      const sources = [${JSON.stringify(GQA)}, 'synthetic:hidden=512,layers=4,heads=8,ffn=1024,vocab=4000'];
      for (let i = 0; i < 10; i++) for (const source of sources) {
        const rt = await Runtime.open({ device: 'cpu' });
        const loading = rt.loadModel(source);
        let dispose = 'ok';
        try { rt.dispose(); } catch (e) { dispose = e.code; }
        let load = 'ok';
        try {
          const m = await loading;
          const logits = await m.createSession().forward([1, 2, 3]);
          if (!logits.data.every(Number.isFinite)) load = 'bad logits';
        } catch (e) { load = e.code; }
        if (!rt.disposed) rt.dispose();
        out.push({ dispose, load });
      }
      console.log(JSON.stringify(out));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    const out = JSON.parse(r.stdout) as Array<{ dispose: string; load: string }>;
    for (const o of out) expect([JSON.stringify({ dispose: 'VL_ERR_STATE', load: 'ok' }), JSON.stringify({ dispose: 'ok', load: 'VL_ERR_STATE' })]).toContain(JSON.stringify(o));
  });

  it('a second step on a session while one is in flight', async () => {
    const ref = reference(GQA);
    const m = await rt.loadModel(GQA);
    const s = m.createSession();
    const first = s.forward(ref.input_ids, { logits: 'all' });
    await failure(s.forward([1, 2, 3]), 'VL_ERR_STATE', /already running/);
    await failure(s.generate([1], 2), 'VL_ERR_STATE');
    await failure(() => s.reset(), 'VL_ERR_STATE');
    await failure(() => s.dispose(), 'VL_ERR_STATE');
    const logits = (await first) as Logits;
    expect(s.tokens).toBe(ref.input_ids.length);
    expect(relativeError(logits.data, ref.logits.flat())).toBeLessThan(1e-4);
    // Free again once the step is done.
    await s.decode(ref.greedy[0] as number);
    expect(s.tokens).toBe(ref.input_ids.length + 1);
    // Another session of the same model is not blocked by this one.
    const t = m.createSession();
    const a = s.decode(ref.greedy[1] as number);
    const b = t.forward([1, 2, 3]);
    expect(((await a) as Logits).argmax()).toBe(ref.greedy[2]);
    expect((await b)?.rows).toBe(1);
    m.dispose();
    await stillUsable();
  });
});

/**
 * Rewrites DIR/model.safetensors keeping its data bytes: `edit` changes the parsed header, `text`
 * the header's JSON text, `tail` bytes are appended after the data and `lengthDelta` is added to the
 * header length written in the first 8 bytes (the header itself is padded to 8 bytes with spaces).
 */
function rawEdit(dir: string, o: { edit?: (h: Record<string, Record<string, unknown>>) => void; text?: (json: string) => string; tail?: number; lengthDelta?: number }): string {
  const path = join(dir, ST);
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, Record<string, unknown>>;
  o.edit?.(header);
  let json = JSON.stringify(header);
  if (o.text) json = o.text(json);
  json += ' '.repeat(8 + ((8 - (json.length % 8)) % 8)); // at least 8 spaces of padding
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length + (o.lengthDelta ?? 0)));
  writeFileSync(path, Buffer.concat([len, Buffer.from(json, 'utf8'), buf.subarray(8 + n), Buffer.alloc(o.tail ?? 0)]));
  return path;
}

/** The name of the tensor whose data ends last (the one written last). */
function lastTensor(dir: string): string {
  const tensors = [...readSafetensors(join(dir, ST)).keys()];
  return tensors[tensors.length - 1] as string;
}

describe('safetensors: the format checked as the safetensors library does, one rule each', () => {
  afterEach(() => stillUsable());
  const LN0 = 'model.layers.0.input_layernorm.weight';
  const LN1 = 'model.layers.1.input_layernorm.weight';

  it('a header over the 100 MB limit', async () => {
    const dir = temps.copy(MHA);
    const path = join(dir, ST);
    const buf = readFileSync(path);
    buf.writeBigUInt64LE(100_000_001n, 0);
    writeFileSync(path, buf);
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', path, 'header length 100000001 is above the safetensors limit of 100000000 bytes');
  });

  it('a header length one byte short (every tensor shifted by one byte)', async () => {
    const dir = temps.copy(MHA);
    const path = rawEdit(dir, { lengthDelta: -1 });
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', path, /not aligned to its 2-byte elements/);
  });

  it('overlapping tensors', async () => {
    const dir = temps.copy(MHA);
    const path = rawEdit(dir, {
      edit: (h) => {
        (h[LN1] as Record<string, unknown>)['data_offsets'] = (h[LN0] as Record<string, unknown>)['data_offsets'];
      },
    });
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', path, `tensor '${LN1}' overlaps the tensor before it`);
  });

  it('a gap between tensors', async () => {
    const dir = temps.copy(MHA);
    const last = lastTensor(dir);
    const path = rawEdit(dir, {
      tail: 2,
      edit: (h) => {
        const t = h[last] as { data_offsets: number[] };
        t.data_offsets = t.data_offsets.map((x) => x + 2);
      },
    });
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', path, `a gap of 2 unused bytes before tensor '${last}'`);
  });

  it('trailing bytes after the last tensor', async () => {
    const dir = temps.copy(MHA);
    const path = rawEdit(dir, { tail: 6 });
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', path, /^[^:]+: 6 bytes after the last tensor's data/);
  });

  it('a misaligned tensor', async () => {
    // A 1-byte U8 tensor first: every F16 tensor after it starts at an odd byte.
    const dir = withTensors((t) => {
      const rest = [...t.entries()];
      t.clear();
      t.set('extra.flag', { dtype: 'U8', shape: [1], data: Buffer.from([1]) });
      for (const [k, v] of rest) t.set(k, v);
    });
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', join(dir, ST), 'not aligned to its 2-byte elements');
  });

  it('an element count that overflows 64 bits to 0', async () => {
    const dir = temps.copy(MHA);
    let end = 0;
    const path = rawEdit(dir, {
      edit: (h) => {
        for (const t of Object.values(h)) end = Math.max(end, (t as { data_offsets?: number[] }).data_offsets?.[1] ?? 0);
        h['huge'] = { dtype: 'F16', shape: [2 ** 32, 2 ** 32], data_offsets: [end, end] };
      },
    });
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', path, "tensor 'huge'", '[4294967296, 4294967296]', 'needs more bytes');
  });

  it('a __metadata__ that is not a map of strings', async () => {
    const dir = temps.copy(MHA);
    const path = rawEdit(dir, {
      edit: (h) => {
        h['__metadata__'] = { format: 1 } as Record<string, unknown>;
      },
    });
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', path, `"__metadata__" entry 'format' must be a string`);
  });

  it('a key twice in one header', async () => {
    const dir = temps.copy(MHA);
    const path = rawEdit(dir, { text: (json) => json.replace(/"model\.norm\.weight":\{[^}]*\}/, '$&,$&') });
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', path, "'model.norm.weight' appears twice in the header");
  });

  it('an unused tensor of a dtype vramlab does not compute with is accepted', async () => {
    const dir = withTensors((t) => t.set('extra.int8', { dtype: 'I8', shape: [2, 4], data: Buffer.alloc(8, 7) }));
    const m = await rt.loadModel(dir);
    const ref = reference(MHA);
    const logits = (await m.createSession().forward(ref.input_ids)) as Logits;
    expect(relativeError(logits.row(0), ref.logits[ref.input_ids.length - 1] as number[])).toBeLessThan(1e-4);
    m.dispose();
  });

  it('a used tensor of such a dtype, and a dtype safetensors does not know', async () => {
    const used = withTensors((t) => {
      const x = t.get(LN0) as StTensor;
      t.set(LN0, { dtype: 'I8', shape: [x.data.length], data: x.data });
    });
    await failure(rt.loadModel(used), 'VL_ERR_UNSUPPORTED', join(used, ST), `tensor '${LN0}' has dtype I8 (vramlab reads F16, BF16 and F32)`);
    const unknown = withTensors(() => {}, (h) => {
      (h[LN0] as { dtype: string }).dtype = 'Q4';
    });
    await failure(rt.loadModel(unknown), 'VL_ERR_FORMAT', join(unknown, ST), `tensor '${LN0}': unknown dtype "Q4"`);
  });
});

describe('model files that are not regular files or too large', () => {
  afterEach(() => stillUsable());

  it('config.json as a FIFO fails at once instead of blocking', async () => {
    const dir = temps.copy(MHA);
    const path = join(dir, 'config.json');
    rmSync(path);
    expect(spawnSync('mkfifo', [path]).status).toBe(0);
    await failure(rt.loadModel(dir), 'VL_ERR_IO', `${path}: is a FIFO, not a regular file`);
  });

  it('model.safetensors as a FIFO', async () => {
    const dir = temps.copy(MHA);
    const path = join(dir, ST);
    rmSync(path);
    expect(spawnSync('mkfifo', [path]).status).toBe(0);
    await failure(rt.loadModel(dir), 'VL_ERR_IO', `${path}: is a FIFO, not a regular file`);
  });

  it('config.json linked to /dev/zero', async () => {
    const dir = temps.copy(MHA);
    const path = join(dir, 'config.json');
    rmSync(path);
    symlinkSync('/dev/zero', path);
    await failure(rt.loadModel(dir), 'VL_ERR_IO', `${path}: is a character device, not a regular file`);
  });

  it('a config.json above 16 MiB is refused before it is read', async () => {
    const dir = temps.copy(MHA);
    const path = join(dir, 'config.json');
    truncateSync(path, 17 * 2 ** 20);
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', `${path}: ${17 * 2 ** 20} bytes, above the limit of ${16 * 2 ** 20} bytes`);
  });
});

describe('model files behind a loop of symbolic links are not missing files; a shard name with a NUL names no file', () => {
  afterEach(() => stillUsable());

  /** A sharded copy of the mha fixture (two shards). */
  function sharded(): { dir: string; index: string; first: string } {
    const dir = temps.copy(MHA);
    writeSharded(dir, readSafetensors(join(dir, ST)), 2, (_n, i) => (i < 5 ? 0 : 1));
    return { dir, index: join(dir, 'model.safetensors.index.json'), first: join(dir, 'model-00001-of-00002.safetensors') };
  }
  const loop = (path: string) => {
    rmSync(path, { force: true });
    symlinkSync(path, path);
  };

  it.each(['config.json', ST])('%s as a loop', async (file) => {
    const dir = temps.copy(MHA);
    const path = join(dir, file);
    loop(path);
    await failure(rt.loadModel(dir), 'VL_ERR_IO', `${path}: cannot open (Too many levels of symbolic links)`);
  });

  it('the shard index, and a shard, as a loop', async () => {
    const a = sharded();
    loop(a.index);
    await failure(rt.loadModel(a.dir), 'VL_ERR_IO', `${a.index}: cannot open (Too many levels of symbolic links)`);
    const b = sharded();
    loop(b.first);
    await failure(rt.loadModel(b.dir), 'VL_ERR_IO', `${b.first}: cannot open (Too many levels of symbolic links)`);
  });

  it('a shard name with a NUL byte (C would open the name before it), and an empty one', async () => {
    for (const name of ['model-00001-of-00002.safetensors\\u0000.evil', '']) {
      const { dir, index } = sharded();
      writeFileSync(index, readFileSync(index, 'utf8').replace(/"model-00001-of-00002\.safetensors"/g, `"${name}"`));
      await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', `${index}: weight_map entry '`, `' names no file (an empty name, or one with a NUL byte)`);
    }
  });
});

describe('config.json values: bounds computed in 64 bits, ranges checked', () => {
  afterEach(() => stillUsable());

  async function withConfig(edit: (c: Record<string, unknown>) => void, code: ErrorCode, message: string): Promise<void> {
    const dir = temps.copy(MHA);
    editConfig(dir, edit);
    await failure(rt.loadModel(dir), code, `${join(dir, 'config.json')}: ${message}`);
  }

  it('heads x head_dim that wraps to 0 in 32 bits (was a heap overflow in cpu attention)', async () => {
    await withConfig(
      (c) => Object.assign(c, { num_attention_heads: 65536, num_key_value_heads: 65536, head_dim: 65536 }),
      'VL_ERR_FORMAT',
      'num_attention_heads 65536 is above the limit of 16384',
    );
  });

  it('a derived matrix above 2^31 elements', async () => {
    await withConfig(
      (c) => Object.assign(c, { num_attention_heads: 16384, num_key_value_heads: 16384, head_dim: 16384 }),
      'VL_ERR_FORMAT',
      'hidden_size x num_attention_heads x head_dim = 17179869184 elements is above the limit of 2147483647 per matrix',
    );
  });

  it('a dimension above 2^31', async () => {
    await withConfig((c) => Object.assign(c, { vocab_size: 4294967297 }), 'VL_ERR_FORMAT', '"vocab_size" must be a positive integer up to 2147483647, got 4294967297');
  });

  it('rope scaling factor 0', async () => {
    await withConfig((c) => Object.assign(c, { rope_parameters: { rope_theta: 10000, rope_type: 'linear', factor: 0 } }), 'VL_ERR_FORMAT', 'rope scaling factor must be a finite positive number');
  });

  it('rms_norm_eps 0 and Infinity (1e999)', async () => {
    await withConfig((c) => Object.assign(c, { rms_norm_eps: 0 }), 'VL_ERR_FORMAT', 'rms_norm_eps must be a finite positive number');
    const dir = temps.copy(MHA);
    const path = join(dir, 'config.json');
    writeFileSync(path, readFileSync(path, 'utf8').replace(/"rms_norm_eps":\s*[^,}]+/, '"rms_norm_eps": 1e999'));
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', `${path}: `, /rms_norm_eps|number/);
  });

  it('llama3 rope with high_freq_factor <= low_freq_factor (a division by zero)', async () => {
    await withConfig(
      (c) => Object.assign(c, { rope_parameters: { rope_theta: 10000, rope_type: 'llama3', factor: 8, low_freq_factor: 4, high_freq_factor: 4, original_max_position_embeddings: 8192 } }),
      'VL_ERR_FORMAT',
      'rope low_freq_factor and high_freq_factor must be finite with 0 < low_freq_factor < high_freq_factor',
    );
  });
});

describe('sizes and counts from arguments: bounded before they cross the ABI', () => {
  it('synthetic shapes', async () => {
    await failure(
      rt.loadModel('synthetic:hidden=2,layers=1,heads=65536,kv_heads=65536,head_dim=65536,ffn=2,vocab=4'),
      'VL_ERR_FORMAT',
      'synthetic model: num_attention_heads 65536 is above the limit of 16384',
    );
    for (const key of ['layers', 'vocab', 'hidden', 'max_pos'])
      await failure(rt.loadModel(`synthetic:tiny,${key}=4294967297`), 'VL_ERR_INVALID_ARGUMENT', `${key} must be a positive integer up to 2147483647, got "4294967297"`);
    await failure(rt.loadModel('synthetic:tiny,eps=Infinity'), 'VL_ERR_INVALID_ARGUMENT', 'eps must be a finite positive number, got "Infinity"');
    await stillUsable();
  });

  it('budgets that would wrap at 2^64', async () => {
    await failure(Runtime.open({ device: 'cpu', budget: '18446744073709555712' }), 'VL_ERR_INVALID_ARGUMENT', 'size 18446744073709555712 is above the limit of 9007199254740991 bytes (8 PiB)');
    await failure(Runtime.open({ device: 'cpu', budget: 2 ** 64 }), 'VL_ERR_INVALID_ARGUMENT', 'above the limit of 9007199254740991 bytes');
  });

  it('model options', async () => {
    await failure(rt.loadModel(MHA, { kvBlockTokens: 2 ** 31 - 1 }), 'VL_ERR_INVALID_ARGUMENT', 'kvBlockTokens must be a whole number from 1 to 1048576, got 2147483647');
    await failure(rt.loadModel(MHA, { kvPoolTokens: 4294967297 }), 'VL_ERR_INVALID_ARGUMENT', 'kvPoolTokens must be a whole number from 1 to 2147483647, got 4294967297');
    await failure(rt.loadModel(MHA, { placement: 'stream', prefetch: 2 ** 32 + 1 }), 'VL_ERR_INVALID_ARGUMENT', 'prefetch must be a positive number of layers up to 2147483647');
    await stillUsable();
  });

  it('generate counts, and token ids that are not numbers', async () => {
    const m = await rt.loadModel(MHA);
    const s = m.createSession();
    const maxPos = m.shape.maxPositionEmbeddings;
    await failure(s.generate([1, 2], 2 ** 32 + 3), 'VL_ERR_INVALID_ARGUMENT', `maxNewTokens must be a whole number from 0 to ${maxPos} (the model's positions), got 4294967299`);
    await failure(s.forward(['1'] as unknown as number[]), 'VL_ERR_INVALID_ARGUMENT', 'token id "1" at position 0 is a string, not a number');
    expect(s.tokens).toBe(0);
    m.dispose();
    await stillUsable();
  });
});

describe('errors carried per call', () => {
  it('concurrent failing loads each get their own message', async () => {
    // Two kinds of bad model directory, loaded at once on koffi's worker threads, 384 loads in all: each
    // failure must name its own directory and fault (a runtime-wide message field mixed them up).
    const noConfig = temps.copy(MHA);
    rmSync(join(noConfig, 'config.json'));
    const badJson = temps.copy(MHA);
    writeFileSync(join(badJson, 'config.json'), '{"hidden_size": 64,,}');
    // (In rounds of 48: koffi runs at most 64 asynchronous calls at once.)
    const want = [
      `VL_ERR_IO ${join(noConfig, 'config.json')}: cannot open (a model directory needs a config.json)`,
      `VL_ERR_FORMAT ${join(badJson, 'config.json')}: not valid JSON`,
    ];
    for (let round = 0; round < 8; round++) {
      const got = await Promise.all(
        Array.from({ length: 48 }, (_, i) =>
          rt.loadModel(i % 2 === 0 ? noConfig : badJson).then(
            () => 'loaded',
            (e: unknown) => (e instanceof VramlabError ? `${e.code} ${e.message}` : String(e)),
          ),
        ),
      );
      got.forEach((g, i) => expect(g.startsWith(want[i % 2] as string), g).toBe(true));
    }
    await stillUsable();
  });
});

describe('a refused dispose disposes nothing', () => {
  it('rt.dispose() during a forward leaves every session and model alive', async () => {
    const other = await Runtime.open({ device: 'cpu' });
    const m = await other.loadModel(MHA);
    const idle = m.createSession();
    const busy = m.createSession();
    const running = busy.forward([1, 2, 3]);
    await failure(() => other.dispose(), 'VL_ERR_STATE', /while a step is running/);
    await failure(() => m.dispose(), 'VL_ERR_STATE', /while a step is running/);
    await running;
    expect([other.disposed, m.disposed, idle.disposed, busy.disposed]).toEqual([false, false, false, false]);
    expect(((await idle.forward([1, 2, 3])) as Logits).rows).toBe(1);
    other.dispose();
    expect([m.disposed, idle.disposed, busy.disposed]).toEqual([true, true, true]);
  });
});

describe('the JSON of model files (config.json, the shard index, safetensors headers), parsed by simdjson', () => {
  afterEach(() => stillUsable());

  /** A copy of the mha fixture whose config.json text is rewritten by `edit` (raw, so it may be any JSON or none). */
  function configText(edit: (json: string) => string): { dir: string; path: string } {
    const dir = temps.copy(MHA);
    const path = join(dir, 'config.json');
    writeFileSync(path, edit(readFileSync(path, 'utf8')));
    return { dir, path };
  }

  it('strings with escapes and a nested object are read as transformers reads them', async () => {
    const { dir } = configText((t) =>
      t
        .replace('"LlamaForCausalLM"', '"Llama\\u0046orCausalLM"')
        .replace('"silu"', '"s\\u0069lu"')
        .replace('"rope_type": "default"', '"rope_type": "def\\u0061ult", "note": "\\"\\\\\\/\\b\\f\\n\\r\\t \\ud83d\\ude00 é"'),
    );
    const ref = reference(MHA);
    const m = await rt.loadModel(dir);
    const logits = (await m.createSession().forward(ref.input_ids)) as Logits;
    expect(relativeError(logits.row(0), ref.logits[ref.input_ids.length - 1] as number[])).toBeLessThan(1e-4);
    m.dispose();
  });

  it('a key twice in config.json, at the top and nested', async () => {
    const top = configText((t) => t.replace('"vocab_size": 256', '"vocab_size": 256, "vocab_size": 512'));
    await failure(rt.loadModel(top.dir), 'VL_ERR_FORMAT', `${top.path}: 'vocab_size' appears twice in the file`);
    const nested = configText((t) => t.replace('"rope_type": "default"', '"rope_type": "linear", "factor": 2, "factor": 4'));
    await failure(rt.loadModel(nested.dir), 'VL_ERR_FORMAT', `${nested.path}: 'factor' appears twice in "rope_parameters" of the file`);
  });

  it('integers beyond 64 bits and non-integers where an integer is required name the field', async () => {
    // Beyond 64 bits: read as the nearest double, as JSON.parse does (simdjson's DOM parser refuses the whole file).
    const huge = configText((t) => t.replace('"vocab_size": 256', '"vocab_size": 18446744073709551616'));
    await failure(rt.loadModel(huge.dir), 'VL_ERR_FORMAT', `${huge.path}: "vocab_size" must be a positive integer up to 2147483647, got 1.8446744073709552e+19`);
    const above = configText((t) => t.replace('"vocab_size": 256', '"vocab_size": 9223372036854775809'));
    await failure(rt.loadModel(above.dir), 'VL_ERR_FORMAT', `${above.path}: "vocab_size" must be a positive integer up to 2147483647, got 9223372036854775809`);
    const half = configText((t) => t.replace('"hidden_size": 64', '"hidden_size": 64.5'));
    await failure(rt.loadModel(half.dir), 'VL_ERR_FORMAT', `${half.path}: "hidden_size" must be a positive integer up to 2147483647, got 64.5`);
    const nested = configText((t) => t.replace('"rope_theta": 10000.0', '"rope_theta": -1e400'));
    await failure(rt.loadModel(nested.dir), 'VL_ERR_FORMAT', `${nested.path}: "rope_parameters"."rope_theta": -1e400 is not a number vramlab reads (integers must fit in 64 bits, other numbers in a finite double)`);
  });

  it('an integer beyond 64 bits in a field vramlab does not read still loads', async () => {
    const { dir } = configText((t) => t.replace('"use_cache": true', '"use_cache": true, "seed": [123456789012345678901234567890, 18446744073709551616]'));
    (await rt.loadModel(dir)).dispose();
  });

  it('what RFC 8259 does not allow: NaN, invalid UTF-8, a trailing comma; and nesting deeper than 64', async () => {
    const nan = configText((t) => t.replace('"rms_norm_eps": 1e-06', '"rms_norm_eps": NaN'));
    await failure(rt.loadModel(nan.dir), 'VL_ERR_FORMAT', `${nan.path}: not valid JSON (The JSON document has an improper structure`);
    const dir = temps.copy(MHA);
    const path = join(dir, 'config.json');
    const text = readFileSync(path);
    const at = text.indexOf('"llama"') + 3;
    writeFileSync(path, Buffer.concat([text.subarray(0, at), Buffer.from([0xff]), text.subarray(at)]));
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', `${path}: not valid JSON (The input is not valid UTF-8)`);
    const comma = configText((t) => t.replace('"vocab_size": 256', '"vocab_size": 256,'));
    await failure(rt.loadModel(comma.dir), 'VL_ERR_FORMAT', `${comma.path}: not valid JSON`);
    const deep = configText((t) => t.replace('"use_cache": true', `"use_cache": ${'['.repeat(65)}${']'.repeat(65)}`));
    await failure(rt.loadModel(deep.dir), 'VL_ERR_FORMAT', `${deep.path}: not valid JSON (The JSON document was too deep`);
    const ok = configText((t) => t.replace('"use_cache": true', `"use_cache": ${'['.repeat(63)}${']'.repeat(63)}`));
    (await rt.loadModel(ok.dir)).dispose();
  });

  it('a key twice inside a tensor entry of a safetensors header', async () => {
    const dir = temps.copy(MHA);
    const path = rawEdit(dir, { text: (json) => json.replace(/"model\.norm\.weight":\{"dtype":"F16"/, '$&,"dtype":"F32"') });
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', `${path}: 'dtype' appears twice in "model.norm.weight" of the header`);
  });

  it('a shape entry beyond 64 bits, and beyond a double, in a safetensors header', async () => {
    const norm = /("model\.norm\.weight":\{"dtype":"F16","shape":\[)64\]/;
    const big = temps.copy(MHA);
    const path = rawEdit(big, { text: (json) => json.replace(norm, '$118446744073709551616]') });
    await failure(rt.loadModel(big), 'VL_ERR_FORMAT', `${path}: tensor 'model.norm.weight': shape entries must be non-negative integers`);
    const inf = temps.copy(MHA);
    rawEdit(inf, { text: (json) => json.replace(norm, '$11e999]') });
    await failure(rt.loadModel(inf), 'VL_ERR_FORMAT', `"model.norm.weight"."shape"[0]: 1e999 is not a number vramlab reads`);
  });

  it('a tensor twice in the weight_map of a shard index', async () => {
    const dir = temps.copy(MHA);
    writeSharded(dir, readSafetensors(join(dir, ST)), 2, (_n, i) => (i < 5 ? 0 : 1));
    const index = join(dir, 'model.safetensors.index.json');
    writeFileSync(index, readFileSync(index, 'utf8').replace(/"model\.norm\.weight": "[^"]*"/, '$&, $&'));
    await failure(rt.loadModel(dir), 'VL_ERR_FORMAT', `${index}: 'model.norm.weight' appears twice in "weight_map" of the file`);
  });
});
