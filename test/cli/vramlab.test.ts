// The CLI's contracts (used by outside checks): JSON shapes, exit statuses, one-line errors.
import { spawnSync } from 'node:child_process';
import { rmSync, truncateSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { copyModel, GQA, MHA, reference, relativeError } from '../helpers.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'vramlab.js');
const temps: string[] = [];
afterAll(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

function vramlab(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A user error: status 1, exactly one line on stderr, no stack trace. */
function expectUserError(r: ReturnType<typeof vramlab>, pattern: RegExp): void {
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(pattern);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\bat .*\.(js|ts):\d+/);
  expect(r.stdout).toBe('');
}

describe('sizes that wrapped or crashed (issue 14): one line, status 1', () => {
  it('a synthetic shape whose heads x head_dim wraps in 32 bits (was SIGSEGV)', () => {
    const r = vramlab('logits', 'synthetic:hidden=2,layers=1,heads=65536,kv_heads=65536,head_dim=65536,ffn=2,vocab=4', '--ids', '0,1');
    expectUserError(r, /^vramlab: synthetic model: num_attention_heads 65536 is above the limit of 16384\n$/);
  });

  it('a budget above 2^64 (was a 4 KiB budget) and a count above 2^32 (was 1 block)', () => {
    expectUserError(vramlab('logits', MHA, '--ids', '1', '--budget', '18446744073709555712'), /size 18446744073709555712 is above the limit of 9007199254740991 bytes/);
    expectUserError(vramlab('logits', MHA, '--ids', '1', '--kv-pool-tokens', '4294967297'), /--kv-pool-tokens: "4294967297" must be at most 2147483647 \(see vramlab --help\)/);
  });
});

describe('vramlab logits', () => {
  it.each([GQA, MHA])('prints {"logits": [[...]]} matching transformers at every position (%s)', (dir) => {
    const ref = reference(dir);
    const r = vramlab('logits', dir, '--ids', ref.input_ids.join(','), '--json');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { logits: number[][] };
    expect(Object.keys(out)).toEqual(['logits']);
    expect(out.logits).toHaveLength(ref.input_ids.length);
    expect(relativeError(out.logits.flat(), ref.logits.flat())).toBeLessThan(1e-4);
  });

  it('accepts --device cpu and a --budget with units', () => {
    const r = vramlab('logits', MHA, '--ids', '3,17,42', '--device', 'cpu', '--budget', '16MiB', '--json');
    expect(r.status).toBe(0);
    expect((JSON.parse(r.stdout) as { logits: number[][] }).logits.map((row) => row.length)).toEqual([256, 256, 256]);
  });

  it('runs synthetic models deterministically', () => {
    const spec = 'synthetic:hidden=64,layers=2,heads=4,kv_heads=2,ffn=128,vocab=300,seed=7';
    const a = vramlab('logits', spec, '--ids', '1,2,3', '--json');
    const b = vramlab('logits', spec, '--ids', '1,2,3', '--json');
    expect(a.status).toBe(0);
    expect(a.stdout).toBe(b.stdout);
  });
});

describe('vramlab logits --steer L:S', () => {
  it.each([GQA, MHA])('scales decoder layer L\'s output by S at every position: the last row matches transformers (%s)', (dir) => {
    const ref = reference(dir);
    const r = vramlab('logits', dir, '--ids', ref.input_ids.join(','), '--steer', `${ref.steer.layer}:${ref.steer.scale}`, '--json');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { logits: number[][] };
    expect(Object.keys(out)).toEqual(['logits']);
    expect(out.logits).toHaveLength(ref.input_ids.length);
    expect(relativeError(out.logits[ref.input_ids.length - 1] as number[], ref.steer.logits_last)).toBeLessThan(1e-4);
  });

  it('is repeatable, and a scale of 1 changes nothing', () => {
    const ids = reference(GQA).input_ids.join(',');
    const plain = vramlab('logits', GQA, '--ids', ids, '--json').stdout;
    expect(vramlab('logits', GQA, '--ids', ids, '--steer', '2:1', '--json').stdout).toBe(plain);
    const one = vramlab('logits', GQA, '--ids', ids, '--steer', '0:1.5', '--json').stdout;
    const two = vramlab('logits', GQA, '--ids', ids, '--steer', '0:1.5', '--steer', '2:0.5', '--json');
    expect(two.status).toBe(0);
    expect(new Set([plain, one, two.stdout]).size).toBe(3);
  });
});

describe('vramlab generate', () => {
  it.each([GQA, MHA])('prints {"tokens": [...], "text", "timings"}, the greedy continuation (%s)', (dir) => {
    const ref = reference(dir);
    const r = vramlab('generate', dir, '--ids', ref.input_ids.join(','), '--max-new-tokens', String(ref.greedy.length), '--json');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { tokens: number[]; text: string | null };
    expect(Object.keys(out)).toEqual(['tokens', 'text', 'timings']);
    expect(out.tokens).toEqual(ref.greedy);
    expect(out.text === null).toBe(dir === MHA); // MHA has no tokenizer.json
  });
});

describe('vramlab demo (npm start)', () => {
  it('prints a table of what it did and continues the prompt as transformers does', () => {
    const r = vramlab('demo');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^prefill\s+24\s+[\d.]+\s+\d+$/m);
    expect(r.stdout).toMatch(/^decode\s+31\s+[\d.]+\s+\d+$/m);
    const cont = /greedy continuation: ([\d ]+)/.exec(r.stdout)?.[1]?.split(' ').map(Number) ?? [];
    expect(cont.slice(0, 24)).toEqual(reference(GQA).greedy);
  });
});

describe('user errors: exit status 1 and one line', () => {
  it('a missing model directory', () => expectUserError(vramlab('logits', '/nonexistent/model', '--ids', '1'), /\/nonexistent\/model: no such model directory/));
  it('missing --ids', () => expectUserError(vramlab('logits', MHA), /--ids or --prompt is required/));
  it('a malformed --ids', () => expectUserError(vramlab('logits', MHA, '--ids', '1,x'), /"x" is not a token id/));
  it('a token id outside the vocabulary', () => expectUserError(vramlab('logits', MHA, '--ids', '1,256', '--json'), /token id 256 at position 1 is outside the vocabulary \(0\.\.255\)/));
  it('an unknown option, with the nearest one', () => {
    expectUserError(vramlab('logits', MHA, '--idz', '1'), /^vramlab: unknown option '--idz' \(did you mean --ids\?\) \(see vramlab logits --help\)\n$/);
    expectUserError(vramlab('generate', MHA, '--ids', '1', '--max-new-token', '2'), /^vramlab: unknown option '--max-new-token' \(did you mean --max-new-tokens\?\) \(see vramlab generate --help\)\n$/);
    expectUserError(vramlab('info', MHA, '--frobnicate'), /^vramlab: unknown option '--frobnicate' \(see vramlab info --help\)\n$/);
    expectUserError(vramlab('run', 'experiments/decode.vlab', '--devise', 'cpu'), /^vramlab: unknown option '--devise' \(did you mean --device\?\) \(see vramlab run --help\)\n$/);
    expectUserError(vramlab('plan', 'experiments/decode.vlab', '--jsn'), /^vramlab: unknown option '--jsn' \(did you mean --json\?\) \(see vramlab plan --help\)\n$/);
    expectUserError(vramlab('report', 'x.json', '--ot', 'r.html'), /^vramlab: unknown option '--ot' \(did you mean --out\?\) \(usage: .*\)\n$/);
  });
  it('an unknown command, with the nearest one', () => {
    expectUserError(vramlab('frobnicate'), /^vramlab: unknown command "frobnicate" \(see vramlab --help\)\n$/);
    expectUserError(vramlab('generat', MHA), /^vramlab: unknown command "generat" \(did you mean generate\?\) \(see vramlab --help\)\n$/);
    expectUserError(vramlab('lgoits', MHA), /^vramlab: unknown command "lgoits" \(did you mean logits\?\) \(see vramlab --help\)\n$/);
    expectUserError(vramlab('--json', 'run', 'x.vlab'), /^vramlab: the command comes first: vramlab run \.\.\. \(see vramlab --help\)\n$/);
  });
  it("an option of another command is refused, not ignored", () => {
    expectUserError(vramlab('generate', MHA, '--ids', '1', '--top', '3'), /^vramlab: --top is an option of vramlab logits, not generate \(see vramlab --help\)\n$/);
    expectUserError(vramlab('logits', MHA, '--ids', '1', '--device-memory', 'H100'), /^vramlab: --device-memory is an option of vramlab info, not logits/);
  });
  it('an unparseable budget', () => expectUserError(vramlab('logits', MHA, '--ids', '1', '--budget', '12 parsecs'), /size "12 parsecs" is not a size/));
  it('a budget too small for the weights', () =>
    expectUserError(vramlab('logits', MHA, '--ids', '1', '--budget', '100KB'), /VRAM budget too small: placing tiny-llama-mha \(resident: 2 of 2 layers resident, a KV pool of \d+ tokens\) needs .*--budget/));
  it('a budget too small: every lever that would make it fit is named, and following one loads it', () => {
    // a KV pool of 4096 tokens (16 MiB of F32) is most of what this shape needs
    const shape = 'synthetic:hidden=64,layers=8,heads=2,ffn=128,vocab=64,max_pos=4096';
    const pool = vramlab('logits', shape, '--ids', '1,2', '--budget', '8MB', '--kv-pool-tokens', '4096');
    expectUserError(pool, /^vramlab: VRAM budget too small: placing synthetic-h64-l8 .* needs 16\.64 MiB but 7\.63 MiB of the 7\.63 MiB budget is free; raise the budget \(--budget\) to at least 16\.64 MiB, or a KV pool of at most 1424 tokens fits \(--kv-pool-tokens 1424\)\n$/);
    // what info says of the same load
    expect(vramlab('info', shape, '--budget', '8MB', '--kv-pool-tokens', '4096').stdout).toContain('raise --budget, or a KV pool of at most 1424 tokens fits (--kv-pool-tokens 1424)');
    expect(vramlab('logits', shape, '--ids', Array.from({ length: 512 }, (_, i) => i % 64).join(','), '--budget', '8MB', '--kv-pool-tokens', '1424', '--json').status).toBe(0);
    const auto = vramlab('logits', 'synthetic:tiny', '--ids', '1,2', '--budget', '2200KB', '--kv-pool-tokens', '1024');
    expectUserError(auto, /; raise the budget \(--budget\) to at least 2\.57 MiB, or --placement auto fits with 0 of 4 layers resident\n$/);
    expect(vramlab('logits', 'synthetic:tiny', '--ids', '1,2', '--budget', '2200KB', '--kv-pool-tokens', '1024', '--placement', 'auto', '--json').status).toBe(0);
  });
  it('a budget just short of what is needed: the sizes in the message read differently', () => {
    const r = vramlab('generate', 'synthetic:tiny', '--ids', '1', '--max-new-tokens', '1', '--placement', 'auto', '--budget', '2MB');
    expectUserError(r, /VRAM budget too small: /);
    const [, need, free, budget, least] = /needs (.+?) but (.+?) of the (.+?) budget is free; .* at least (.+)$/.exec(r.stderr.trimEnd())!;
    expect(need).not.toBe(free);
    expect(least).not.toBe(budget);
  });
  it('an unknown device', () => expectUserError(vramlab('logits', MHA, '--ids', '1', '--device', 'tpu:0'), /device must be "cpu" or "cuda:N" \(N a GPU index\), got "tpu:0"/));
  it('a bad synthetic spec', () => expectUserError(vramlab('logits', 'synthetic:llama-9b', '--ids', '1'), /unknown shape "llama-9b"/));
  it('a truncated safetensors file', () => {
    const dir = copyModel(MHA);
    temps.push(dir);
    const file = join(dir, 'model.safetensors');
    truncateSync(file, Math.floor(statSync(file).size / 2));
    expectUserError(vramlab('generate', dir, '--ids', '1', '--max-new-tokens', '2'), new RegExp(`${file}: tensor '.*': bytes .* lie outside the data .*truncated`));
  });
  it('a malformed --steer', () => expectUserError(vramlab('logits', MHA, '--ids', '1', '--steer', '1'), /--steer: "1" is not LAYER:SCALE \(e\.g\. --steer 2:0\.9\)/));
  it('a --steer layer past the last', () => expectUserError(vramlab('logits', MHA, '--ids', '1', '--steer', '2:0.9'), /steer layer 2 is outside the model's layers \(0\.\.1\)/));
});

it('--help prints usage and exits 0', () => {
  const r = vramlab('--help');
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/usage: vramlab/);
  expect(r.stdout).toMatch(/synthetic:<spec>/);
});
