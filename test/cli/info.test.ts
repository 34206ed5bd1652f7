// vramlab info MODEL through the real binary (issue 18): the shape from config.json and the safetensors
// headers, bytes per dtype, KV bytes per token and what fits the budget, without loading the weights:
// synthetic:llama-70b is described under a budget 140 times too small to load it, and a model that does
// not fit says by how much.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, copyModel, editConfig, GQA, MHA, readSafetensors, ROOT, vramlab } from '../helpers.js';

interface InfoJson {
  device: string;
  name: string;
  shape: Record<string, number | boolean | string>;
  parameters: number;
  weights: { dtype: string; bytesPerElement: number; bytes: number; layerBytes: number };
  kv: { dtype: string; bytesPerElement: number; bytesPerToken: number; blockTokens: number; blockBytes: number; poolBlocks: number; poolTokens: number; poolBytes: number };
  placement: { placement: string; residentLayers: number; streamedLayers: number; residentBytes: number; hostBytes: number; ringBytes: number; prefetch: number };
  vram: { budget: number; free: number; need: number; fits: boolean; short: number; workspaceBytes: number; maxStepTokens: number; activationDtype: string };
}

function infoJson(...args: string[]): InfoJson {
  const r = vramlab('info', ...args, '--json');
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as InfoJson;
}

const HEAD = { model: 'model', shape: 'shape', weights: 'weights', kv: 'KV cache', placement: 'placement', pool: 'KV pool' };

/** The text form's lines, checking that its first six (model to KV pool) read `head`, under their labels. */
function textForm(stdout: string, head: Record<keyof typeof HEAD, string>): string[] {
  const lines = stdout.trimEnd().split('\n');
  expect(lines.slice(0, 6)).toEqual(Object.entries(HEAD).map(([k, label]) => `${label.padEnd(11)}${head[k as keyof typeof HEAD]}`));
  return lines;
}

describe('vramlab info on the tiny fixtures: the numbers of config.json and the safetensors header', () => {
  it.each([GQA, MHA])('%s', (dir) => {
    const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, number | boolean>;
    const tensors = [...readSafetensors(join(dir, 'model.safetensors')).entries()];
    const elements = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
    const layer0 = tensors.filter(([name]) => name.startsWith('model.layers.0.'));
    const j = infoJson(dir);
    expect(Object.keys(j)).toEqual(['device', 'name', 'shape', 'parameters', 'weights', 'kv', 'placement', 'vram']);
    expect(j.name).toBe(dir.split('/').pop());
    expect(j.shape).toEqual({
      vocabSize: c['vocab_size'],
      hiddenSize: c['hidden_size'],
      intermediateSize: c['intermediate_size'],
      numLayers: c['num_hidden_layers'],
      numHeads: c['num_attention_heads'],
      numKvHeads: c['num_key_value_heads'],
      headDim: c['head_dim'],
      maxPositionEmbeddings: c['max_position_embeddings'],
      tieWordEmbeddings: false,
      dtype: 'f16',
      rmsNormEps: 1e-6,
      ropeTheta: 10000,
    });
    // The loader places each tensor of the file at a 256-byte boundary.
    const placed = (ts: typeof tensors) => ts.reduce((a, [, t]) => a + Math.ceil(t.data.length / 256) * 256, 0);
    expect(j.parameters).toBe(tensors.reduce((a, [, t]) => a + elements(t.shape), 0));
    expect(j.weights).toEqual({ dtype: 'f16', bytesPerElement: 2, bytes: placed(tensors), layerBytes: placed(layer0) });
    // The CPU keeps the KV cache in f32: K and V of every layer, num_key_value_heads x head_dim each.
    const perToken = (c['num_hidden_layers'] as number) * 2 * (c['num_key_value_heads'] as number) * (c['head_dim'] as number) * 4;
    // No budget given: a pool of max_position_embeddings (1024) tokens.
    expect(j.kv).toEqual({ dtype: 'f32', bytesPerElement: 4, bytesPerToken: perToken, blockTokens: 16, blockBytes: 16 * perToken, poolBlocks: 64, poolTokens: 1024, poolBytes: 1024 * perToken });
    expect(j.placement).toEqual({ placement: 'resident', residentLayers: c['num_hidden_layers'], streamedLayers: 0, residentBytes: j.weights.bytes, hostBytes: 0, ringBytes: 0, prefetch: 1 });
    // The load allocates the weights, the pool and the rotary frequencies (head_dim / 2 floats).
    expect(j.vram).toMatchObject({ need: j.weights.bytes + j.kv.poolBytes + ((c['head_dim'] as number) / 2) * 4, fits: true, short: 0, maxStepTokens: 1024, activationDtype: 'f32' });
  });

  it('the text form: one line each for the shape, weights, KV cache, placement, KV pool, VRAM and device', () => {
    const r = vramlab('info', GQA);
    expect(r.status).toBe(0);
    const lines = textForm(r.stdout, {
      model: 'tiny-llama-gqa',
      shape: '4 layers, hidden 128, ffn 344, 8 heads / 2 KV heads of 16, vocab 512, 1024 positions, rope theta 10000, rms eps 1e-6',
      weights: '824,448 parameters, F16 (2 bytes each): 1.57 MiB, 338.50 KiB a layer',
      kv: 'F32 (4 bytes each): 1.00 KiB per token, 16.00 KiB per 16-token block',
      placement: 'resident: 4 of 4 layers resident (1.57 MiB in VRAM)',
      pool: '1024 tokens: 64 blocks of 16, 1.00 MiB',
    });
    expect(lines[6]).toMatch(/^VRAM {7}the load needs 2\.57 MiB; [\d.]+ GiB of the [\d.]+ GiB budget \(the device's memory\) is free; a 1024-token step adds [\d.]+ MiB of F32 activations$/);
    expect(lines[7]).toMatch(/^device {5}cpu \(\d+ threads?\)$/);
    expect(lines).toHaveLength(8);
  });

  it('--placement auto under a budget: the layers resident, the ring and the KV pool the budget leaves', () => {
    const j = infoJson(GQA, '--placement', 'auto', '--budget', '6500KB');
    expect(j.placement).toEqual({ placement: 'auto', residentLayers: 2, streamedLayers: 2, residentBytes: j.weights.bytes - 2 * j.weights.layerBytes, hostBytes: 2 * j.weights.layerBytes, ringBytes: 2 * j.weights.layerBytes, prefetch: 1 });
    expect(j.vram).toMatchObject({ budget: 6_500_000, free: 6_500_000, fits: true });
    expect(j.vram.need).toBe(j.placement.residentBytes + j.placement.ringBytes + j.kv.poolBytes + 32);
    const t = vramlab('info', GQA, '--placement', 'auto', '--budget', '6500KB').stdout;
    expect(t).toMatch(/^placement  auto: 2 of 4 layers resident \(933\.25 KiB in VRAM\), 2 streamed from host memory \(677\.00 KiB\) through a 677\.00 KiB ring, prefetch 1$/m);
  });

  it('--kv-pool-tokens sets the pool, in whole blocks', () => {
    expect(infoJson(GQA, '--kv-pool-tokens', '100').kv).toMatchObject({ poolBlocks: 7, poolTokens: 112, poolBytes: 112 * 1024 });
  });
});

describe('vramlab info synthetic:llama-70b: described, never synthesized', () => {
  it('under a 1 GB budget (140 times too small to load it): the exact shape and sizes, and by how much it does not fit', () => {
    const j = infoJson('synthetic:llama-70b', '--budget', '1GB');
    expect(j.name).toBe('synthetic:llama-70b');
    expect(j.shape).toEqual({ vocabSize: 32000, hiddenSize: 8192, intermediateSize: 28672, numLayers: 80, numHeads: 64, numKvHeads: 8, headDim: 128, maxPositionEmbeddings: 4096, tieWordEmbeddings: false, dtype: 'f16', rmsNormEps: 1e-5, ropeTheta: 10000 });
    expect(j.parameters).toBe(68_976_648_192); // Llama 2 70B's published count
    expect(j.weights).toEqual({ dtype: 'f16', bytesPerElement: 2, bytes: 137_953_296_384, layerBytes: 1_711_308_800 });
    // 80 layers x (K, V) x 8 KV heads x 128 x 4 bytes; the budget leaves no room: the default 4096-token pool
    expect(j.kv).toEqual({ dtype: 'f32', bytesPerElement: 4, bytesPerToken: 655_360, blockTokens: 16, blockBytes: 10_485_760, poolBlocks: 256, poolTokens: 4096, poolBytes: 2_684_354_560 });
    expect(j.placement).toMatchObject({ placement: 'resident', residentLayers: 80, streamedLayers: 0, residentBytes: 137_953_296_384, hostBytes: 0, ringBytes: 0 });
    const need = 137_953_296_384 + 2_684_354_560 + 256;
    expect(j.vram).toMatchObject({ budget: 1e9, free: 1e9, need, fits: false, short: need - 1e9, maxStepTokens: 2048 });
  });

  it('the text form ends with the line saying what does not fit and what would', () => {
    const r = vramlab('info', 'synthetic:llama-70b', '--budget', '24GB');
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout.trimEnd().split('\n').pop()).toBe(
      'does not fit: resident (80 of 80 layers resident, a 4096-token KV pool) needs 130.98 GiB of VRAM but 22.35 GiB is free: 108.63 GiB short; raise --budget, or --placement auto fits with 9 of 80 layers resident',
    );
  });

  it("with the default budget (the device's memory): the whole description, and the process never holds more than 512 MiB", () => {
    // A hook in the child reports its peak resident memory at exit: synthesizing even one layer of
    // llama-70b (1.59 GiB of F16) would pass 512 MiB; the whole model is 128.48 GiB.
    const hook = 'data:text/javascript,process.on("exit",()=>process.stderr.write("maxrss "+process.resourceUsage().maxRSS+"\\n"))';
    const r = spawnSync(process.execPath, ['--import', hook, CLI, 'info', 'synthetic:llama-70b'], { encoding: 'utf8', cwd: ROOT });
    expect(r.status).toBe(0);
    const rss = /^maxrss (\d+)\n$/.exec(r.stderr);
    expect(rss, r.stderr).not.toBeNull();
    expect(Number(rss?.[1]) * 1024).toBeLessThan(512 * 2 ** 20);
    const lines = textForm(r.stdout, {
      model: 'synthetic:llama-70b',
      shape: '80 layers, hidden 8192, ffn 28672, 64 heads / 8 KV heads of 128, vocab 32000, 4096 positions, rope theta 10000, rms eps 1e-5',
      weights: '68.98 B parameters, F16 (2 bytes each): 128.48 GiB, 1.59 GiB a layer',
      kv: 'F32 (4 bytes each): 640.00 KiB per token, 10.00 MiB per 16-token block',
      placement: 'resident: 80 of 80 layers resident (128.48 GiB in VRAM)',
      pool: '4096 tokens: 256 blocks of 16, 2.50 GiB',
    });
    expect(lines[6]).toMatch(/^VRAM {7}the load needs 130\.98 GiB; [\d.]+ [KMGT]?i?B of the [\d.]+ [KMGT]?i?B budget \(the device's memory\) is free; /);
    // No "raise --budget" advice when no budget was given: the device's memory is what there is.
    if (lines.length > 8) expect(lines[8]).toMatch(/^does not fit: .* short(; --placement auto fits with \d+ of 80 layers resident| \(--placement auto, every layer streamed, is .* short too\))$/);
  });

  it('--placement auto: the layers resident, the streamed rest, the ring', () => {
    const j = infoJson('synthetic:llama-70b', '--budget', '24GB', '--placement', 'auto');
    expect(j.placement).toEqual({ placement: 'auto', residentLayers: 9, streamedLayers: 71, residentBytes: 16_450_371_584, hostBytes: 71 * 1_711_308_800, ringBytes: 2 * 1_711_308_800, prefetch: 1 });
    expect(j.vram.fits).toBe(true);
  });
});

describe('vramlab info on a model that does not fit', () => {
  it('is described, with one line of what does not fit and by how much, and exit status 0', () => {
    const r = vramlab('info', GQA, '--budget', '1MB');
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('model      tiny-llama-gqa');
    expect(lines.filter((l) => l.startsWith('does not fit'))).toEqual([
      'does not fit: resident (4 of 4 layers resident, a 1024-token KV pool) needs 2.57 MiB of VRAM but 976.56 KiB is free: 1.62 MiB short; raise --budget (--placement auto, every layer streamed, is 980.72 KiB short too)',
    ]);
    const j = infoJson(GQA, '--budget', '1MB');
    expect(j.vram).toMatchObject({ fits: false, need: 2_697_504, free: 1_000_000, short: 1_697_504 });
  });

  it('info --help lists every field of the --json output', () => {
    const help = vramlab('info', '--help').stdout;
    const j = infoJson(GQA) as unknown as Record<string, unknown>;
    for (const [key, value] of Object.entries(j)) {
      expect(help).toContain(`"${key}"`);
      if (value && typeof value === 'object') for (const field of Object.keys(value)) expect(help).toMatch(new RegExp(`[{ ]${field}[,}]`));
    }
  });

  it('the exit status is the one info --help documents', () => {
    expect(vramlab('info', '--help').stdout).toMatch(/exit status 0 when the model is described, whether or not it fits/);
  });

  it('a model that fits has no such line', () => {
    expect(vramlab('info', GQA).stdout).not.toMatch(/does not fit/);
  });
});

describe('vramlab info: bad input is the load\'s one-line error', () => {
  it('a tensor that disagrees with config.json', () => {
    const dir = copyModel(MHA);
    editConfig(dir, (c) => {
      c['intermediate_size'] = 180;
    });
    const info = vramlab('info', dir);
    expect(info.status).toBe(1);
    expect(info.stderr).toMatch(/^vramlab: .*model\.safetensors: tensor 'model\.layers\.0\.mlp\.gate_proj\.weight' has shape \[176, 64\] but config\.json implies \[180, 64\]\n$/);
    expect(info.stderr).toBe(vramlab('logits', dir, '--ids', '1').stderr);
  });

  it('a ring with a resident placement, as the loader refuses it', () => {
    const r = vramlab('info', GQA, '--ring', '1MB');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('vramlab: a ring size was given but the placement is resident: choose stream, stream-sync, accelerate or auto\n');
  });

  it('a missing MODEL', () => {
    const r = vramlab('info');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('vramlab: missing MODEL (a model directory or synthetic:<spec>) (see vramlab info --help)\n');
  });
});

describe('vramlab info --device cuda:0 --device-memory: a GPU planned from a machine without one', () => {
  it("what the CUDA backend would hold: the F16 KV cache and activations, under the card's memory", () => {
    const j = infoJson('synthetic:llama-70b', '--device', 'cuda:0', '--device-memory', 'H100');
    expect(j.device).toBe('cuda:0 with H100, 81559 MiB of memory, planned (not opened)');
    // 80 layers x (K, V) x 8 KV heads x 128 x 2 bytes (the CPU's are F32: 655,360 bytes a token)
    expect(j.kv).toEqual({ dtype: 'f16', bytesPerElement: 2, bytesPerToken: 327_680, blockTokens: 16, blockBytes: 5_242_880, poolBlocks: 256, poolTokens: 4096, poolBytes: 1_342_177_280 });
    const need = 137_953_296_384 + 1_342_177_280 + 256;
    expect(j.vram).toMatchObject({ budget: 81559 * 2 ** 20, free: 81559 * 2 ** 20, need, fits: false, short: need - 81559 * 2 ** 20, activationDtype: 'f16', maxStepTokens: 2048 });
    const text = vramlab('info', 'synthetic:llama-70b', '--device', 'cuda:0', '--device-memory', 'H100').stdout.trimEnd().split('\n');
    expect(text[3]).toBe('KV cache   F16 (2 bytes each): 320.00 KiB per token, 5.00 MiB per 16-token block');
    expect(text.pop()).toMatch(/^does not fit: resident \(80 of 80 layers resident, a 4096-token KV pool\) needs 129\.73 GiB of VRAM but 79\.65 GiB is free: 50\.08 GiB short; a device with more memory \(--device-memory\), or --placement auto fits with \d+ of 80 layers resident$/);
  });

  it('a size, or a card named in any case; --budget under it', () => {
    expect(infoJson(GQA, '--device', 'cuda:0', '--device-memory', 'rtx4090').device).toBe('cuda:0 with RTX-4090, 24564 MiB of memory, planned (not opened)');
    const j = infoJson(GQA, '--device', 'cuda:1', '--device-memory', '80GB', '--budget', '1GB');
    expect(j.device).toBe('cuda:1 with 74.51 GiB of memory, planned (not opened)');
    expect(j.vram).toMatchObject({ budget: 1e9, activationDtype: 'f16' });
    expect(j.kv.dtype).toBe('f16');
  });

  it.each([
    [['--device-memory', 'H10'], '--device-memory: "H10" is neither a size (e.g. 80GB) nor a card (H100, H200, A100-80GB, A100-40GB, L40S, L4, RTX-4090, T4) (did you mean H100?) (see vramlab --help)'],
    [['--device-memory', '0'], '--device-memory: "0" must be larger than 0 (see vramlab --help)'],
    [['--device-memory', 'a100'], '--device-memory: "a100" is neither a size (e.g. 80GB) nor a card (H100, H200, A100-80GB, A100-40GB, L40S, L4, RTX-4090, T4) (did you mean A100-80GB or A100-40GB?) (see vramlab --help)'],
    [['--device-memory', '10GB', '--budget', '20GB'], "the VRAM budget must be larger than 0 and at most the device's memory (9.31 GiB), got 18.63 GiB"],
  ])('%j: one line', (flags, message) => {
    const r = vramlab('info', GQA, '--device', 'cuda:0', ...flags);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`vramlab: ${message}\n`);
  });

  const cuda = vramlab('info', GQA, '--device', 'cuda:0');
  it.skipIf(cuda.status === 0)('without --device-memory on a machine without a GPU (or the CUDA backend): the error says how to plan for it', () => {
    expect(cuda.status).toBe(1);
    expect(cuda.stderr).toMatch(/^vramlab: (the CUDA backend is not available \(.*\); it is built only where nvcc is found at install time|cuda:0: no CUDA GPU is present \(.*\)); to plan for it from here, give its memory: --device-memory 80GB, or a card \(H100, H200, A100-80GB, A100-40GB, L40S, L4, RTX-4090, T4\)\n$/);
  });
});
