// vramlab generate MODEL --ids-file FILE: one session per line, batched through the scheduler or in
// round-robin turns; greedy tokens must not depend on paging (a pool that holds every session or two).
// Lines of ids, or of text through the model's tokenizer.json; sampled in turns, each line's tokens
// are those of --ids with the same flags; without --max-new-tokens, to the context's end.
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GQA, MHA, tempDir } from '../helpers.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'vramlab.js');
const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function vramlab(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

type Out = { tokens: number[][]; paging: Record<string, number>; text: string[]; timings: Record<string, number> };

// 4 prompts of 20 tokens, 8 new: 28 positions = 2 blocks of 16 each; a 64-token pool holds two sessions.
const prompts = [0, 1, 2, 3].map((s) => Array.from({ length: 20 }, (_, i) => (s * 37 + i * 11) % 500));
const FILE = join(dir, 'prompts.txt');
writeFileSync(FILE, prompts.map((p) => p.join(',')).join('\n') + '\n');
const N = 8;

const alone = prompts.map((p) => {
  const r = vramlab('generate', GQA, '--ids', p.join(','), '--max-new-tokens', String(N), '--json');
  expect(r.status).toBe(0);
  return (JSON.parse(r.stdout) as { tokens: number[] }).tokens;
});

function many(...extra: string[]): Out {
  const r = vramlab('generate', GQA, '--ids-file', FILE, '--max-new-tokens', String(N), '--json', ...extra);
  expect(r.stderr).toMatch(/^prefill time = .*\n decode time = .*\n$/); // the timings, nothing else
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as Out;
}

describe('vramlab generate --ids-file', () => {
  it('prints exactly {"tokens", "paging": {out_bytes, in_bytes, peak_vram_bytes, budget_bytes, evictions}, "text", "timings"}', () => {
    const out = many();
    expect(Object.keys(out)).toEqual(['tokens', 'paging', 'text', 'timings']);
    expect(out.text).toHaveLength(prompts.length);
    expect(out.timings['prefill_tokens']).toBe(80);
    expect(out.timings['decode_tokens']).toBe(out.tokens.flat().length - prompts.length);
    expect(Object.keys(out.paging)).toEqual(['out_bytes', 'in_bytes', 'peak_vram_bytes', 'budget_bytes', 'evictions']);
    for (const v of Object.values(out.paging)) expect(Number.isInteger(v) && v >= 0).toBe(true);
    expect(out.paging['peak_vram_bytes']).toBeGreaterThan(0);
    expect(out.paging['peak_vram_bytes']).toBeLessThanOrEqual(out.paging['budget_bytes'] as number);
    expect(out.tokens).toEqual(alone);
  });

  for (const mode of [[], ['--turns']])
    for (const policy of ['lru', 'next-use', 'recompute'])
      it(`${mode.length ? 'in turns' : 'batched'}, --paging ${policy}: the same greedy tokens with a pool of everything and one of two sessions`, () => {
        const big = many('--paging', policy, ...mode);
        const small = many('--paging', policy, '--kv-pool-tokens', '64', ...mode);
        expect(big.tokens).toEqual(alone);
        expect(small.tokens).toEqual(alone);
        expect(big.paging['evictions']).toBe(0);
        expect(small.paging['evictions']).toBeGreaterThan(0);
        if (policy !== 'recompute' && mode.length) {
          expect(small.paging['out_bytes']).toBeGreaterThan(0);
          expect(small.paging['in_bytes']).toBeGreaterThan(0);
        }
      });

  it('--paging none: the same tokens when the pool holds everything; a one-line KV pool error naming --kv-pool-tokens when not', () => {
    expect(many('--paging', 'none', '--turns').tokens).toEqual(alone);
    const r = vramlab('generate', GQA, '--ids-file', FILE, '--max-new-tokens', String(N), '--paging', 'none', '--turns', '--kv-pool-tokens', '64');
    expect(r.status).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/KV pool exhausted.*--kv-pool-tokens/);
  });

  // MHA has no tokenizer.json: every line must be ids, read as --ids reads them (one parser).
  it.each([
    ['1,2\n3,x\n', /^vramlab: .*bad\.txt:2: "x" is not a token id \(token ids separated by commas or spaces; text lines need a model with a tokenizer\.json\)\n$/],
    ['1,2\n\n3\n', /^vramlab: .*bad\.txt:2: empty line/],
    ['1,,2\n', /^vramlab: .*bad\.txt:1: "" is not a token id/],
    ['1\n-4\n', /^vramlab: .*bad\.txt:2: "-4" is not a token id/],
    ['1\n0x10\n', /^vramlab: .*bad\.txt:2: "0x10" is not a token id/],
    ['1e3\n', /^vramlab: .*bad\.txt:1: "1e3" is not a token id/],
    ['', /^vramlab: .*bad\.txt: no prompts/],
  ])('a bad line gives a line-numbered one-line error (%j)', (text, pattern) => {
    const bad = join(dir, 'bad.txt');
    writeFileSync(bad, text);
    const r = vramlab('generate', MHA, '--ids-file', bad, '--max-new-tokens', '2');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('a prompt past the vocabulary names its line', () => {
    const bad = join(dir, 'vocab.txt');
    writeFileSync(bad, '1,2\n3,99999\n');
    const r = vramlab('generate', GQA, '--ids-file', bad, '--max-new-tokens', '2');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/99999.*outside the vocabulary/);
  });
});

describe('vramlab generate --ids-file: text lines, sampling in turns, the default length', () => {
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const json = (...args: string[]) => {
    const r = vramlab('generate', ...args, '--json');
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as Out;
  };

  it('a line that is not ids is a text through tokenizer.json, as --prompt: "3,x" and "0x10" too', () => {
    const texts = ['The capital of France is', '3,x', '0x10'];
    const out = json(GQA, '--ids-file', file('text.txt', `${texts[0]}\n${prompts[0]!.join(', ')}\n${texts[1]}\n${texts[2]}\n`), '--max-new-tokens', '5');
    const one = (flag: string, v: string) => json(GQA, flag, v, '--max-new-tokens', '5').tokens as unknown as number[];
    expect(out.tokens).toEqual([one('--prompt', texts[0]!), one('--ids', prompts[0]!.join(',')), one('--prompt', texts[1]!), one('--prompt', texts[2]!)]);
    // each text prefilled as its --prompt tokens (logits: a row a token), <s> first
    const tokensOf = (t: string) => (JSON.parse(vramlab('logits', GQA, '--prompt', t, '--json').stdout) as { logits: unknown[] }).logits.length;
    expect(tokensOf(texts[0]!)).toBe(6);
    expect(out.timings['prefill_tokens']).toBe(6 + 20 + tokensOf(texts[1]!) + tokensOf(texts[2]!));
  });

  it('--turns with --temperature: each line samples as --ids with the same seed; batched, sampling is refused', () => {
    const flags = ['--max-new-tokens', '12', '--ignore-eos', '--temperature', '1', '--seed', '7'];
    const out = json(GQA, '--ids-file', FILE, '--turns', ...flags);
    expect(out.tokens).toEqual(prompts.map((p) => json(GQA, '--ids', p.join(','), ...flags).tokens));
    expect(out.tokens).not.toEqual(prompts.map((p) => json(GQA, '--ids', p.join(','), '--max-new-tokens', '12', '--ignore-eos').tokens));
    const r = vramlab('generate', GQA, '--ids-file', FILE, ...flags);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('vramlab: --temperature: the batched scheduler of --ids-file picks the argmax on the device: sample in turns (--turns) (see vramlab --help)\n');
  });

  it('without --max-new-tokens: to the context (a 64-token KV pool) less the longest prompt, said on stderr', () => {
    const r = vramlab('generate', 'synthetic:tiny', '--ids-file', file('short.txt', '1,2,3\n4,5,6,7,8\n'), '--kv-pool-tokens', '64', '--json');
    expect(r.status).toBe(0);
    expect(r.stderr.split('\n')[0]).toBe("max-new-tokens: to the EOS or the context's end: at most 59 new tokens, the KV pool's 64 tokens (fewer than the model's 1024 positions: --kv-pool-tokens) less the 5-token prompt");
    expect((JSON.parse(r.stdout) as Out).tokens.map((t) => t.length)).toEqual([59, 59]);
  });
});
