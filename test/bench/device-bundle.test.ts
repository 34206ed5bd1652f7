// bench/device/bundle.mjs, the bundle carried to the GPU machine (.device/): laid out as
// bench/device/run.sh lays it out there (node_modules and dist linked from it, beside the working tree's
// package.json) in a folder with nothing else and no node_modules above it, it runs the command line:
// `vramlab logits` (koffi) as the issue asks, and the commands that load the other packages it carries
// (generate --prompt --chat: the tokenizers and the Jinja; check: chevrotain; repl: acorn), each with the
// same output as from the checkout. The packages are those the import graph reaches; one taken out
// breaks it. With the working tree it stays under the device tool's 64 MiB.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GQA, ROOT, tempDir } from '../helpers.js';

const dir = tempDir('vramlab-bundle-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Bundle {
  imported: string[];
  packages: string[];
  notCarried: Record<string, string[]>;
  travellingBytes: number;
  limitBytes: number;
}

// Node compressed at xz's level 0 (seconds; prepare.sh's level 6 takes minutes and is smaller): the
// size checked is an upper bound of what prepare.sh carries.
const made = spawnSync(process.execPath, [join(ROOT, 'bench', 'device', 'bundle.mjs'), join(dir, '.device'), '--xz-level', '0'], { encoding: 'utf8', cwd: ROOT });
const bundle = JSON.parse(made.stdout) as Bundle;

/** A folder laid out as run.sh lays out the GPU machine's: package.json, and node_modules and dist linked from .device/. */
const machine = join(dir, 'machine');
cpSync(join(dir, '.device'), join(machine, '.device'), { recursive: true });
cpSync(join(ROOT, 'package.json'), join(machine, 'package.json'));
symlinkSync('.device/node_modules', join(machine, 'node_modules'));
symlinkSync('.device/dist', join(machine, 'dist'));

/** The command line from `cwd` (the native library is built on the machine from the sources: here, the checkout's). */
function vramlab(cwd: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [join(cwd, 'dist', 'cli', 'vramlab.js'), ...args], {
    encoding: 'utf8',
    cwd,
    env: { ...process.env, VRAMLAB_LIB: join(ROOT, 'native', 'build', 'libvramlab.so'), NODE_PATH: '' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// A chat model (a copy of the fixture with a chat template) and a .vlab file, beside the bundle.
const chat = join(dir, 'chat');
cpSync(GQA, chat, { recursive: true });
writeFileSync(join(chat, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: '</s>', chat_template: "{{ bos_token }}{% for m in messages %}{{ '<|user|>\\n' + m['content'] + eos_token }}{% endfor %}" }));
const vlab = join(dir, 'x.vlab');
writeFileSync(vlab, 'experiment x {\n  model = synthetic(tiny)\n  measure = decode\n}\n');

describe('the GPU bundle runs the command line alone', () => {
  it('is made: the packages the import graph reaches, and those only required at call time named as left out', () => {
    expect(made.stderr).toBe('');
    expect(made.status).toBe(0);
    expect(bundle.imported).toEqual(['@huggingface/jinja', '@huggingface/tokenizers', 'acorn', 'chevrotain', 'koffi']);
    expect(bundle.packages).toContain('node_modules/@koromix/koffi-linux-x64'); // koffi's binary: an optional dependency installed here
    expect(bundle.packages).toContain('node_modules/lodash-es'); // chevrotain's own dependency
    expect(bundle.packages.some((p) => p.includes('danfojs') || p.includes('tensorflow'))).toBe(false);
    expect(Object.keys(bundle.notCarried)).toEqual(['danfojs-node', 'plotly.js-dist-min', 'tslab']);
    expect(bundle.notCarried['danfojs-node']).toEqual(['dist/lab/frames.js']);
  });

  it('no node_modules above the folder: what runs there comes from the bundle', () => {
    for (let d = dirname(machine); d !== dirname(d); d = dirname(d)) expect(existsSync(join(d, 'node_modules')), d).toBe(false);
  });

  it.each([
    ['logits synthetic:tiny --ids 1,2,3 --json', ['logits', 'synthetic:tiny', '--ids', '1,2,3', '--json']],
    ['generate --chat (tokenizers, jinja)', ['generate', chat, '--chat', '--prompt', 'The cat', '--max-new-tokens', '4', '--json']],
    ['check (chevrotain)', ['check', vlab, '--json']],
    ['info', ['info', 'synthetic:llama-70b', '--device', 'cuda:0', '--device-memory', 'H100', '--json']],
  ])('%s: the same output as from the checkout', (_, args) => {
    const there = vramlab(machine, ...args);
    expect(there.stderr.replace(/^(prefill|\s*decode) time = .*\n/gm, '')).toBe('');
    expect(there.status).toBe(0);
    const here = vramlab(ROOT, ...args);
    const tokens = (out: string) => (args[0] === 'generate' ? (JSON.parse(out) as { tokens: number[] }).tokens : out);
    expect(tokens(there.stdout)).toEqual(tokens(here.stdout));
  });

  it('repl --script (acorn): its JavaScript lines run', () => {
    const script = join(dir, 'script.txt');
    writeFileSync(script, 'const x = [1, 2].map((v) => v * 21)\nx[1]\n');
    const r = vramlab(machine, 'repl', 'synthetic:tiny', '--script', script);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('42');
  });

  it('a package taken out of the bundle fails the command that needs it', () => {
    const broken = join(dir, 'broken');
    cpSync(machine, broken, { recursive: true, verbatimSymlinks: true });
    rmSync(join(broken, '.device', 'node_modules', 'chevrotain'), { recursive: true });
    const r = vramlab(broken, 'check', vlab);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Cannot find package 'chevrotain'/);
  });

  it("with the working tree, under the device tool's 64 MiB", () => {
    expect(bundle.limitBytes).toBe(64 * 2 ** 20);
    expect(bundle.travellingBytes).toBeLessThanOrEqual(bundle.limitBytes);
    expect(bundle.travellingBytes).toBeGreaterThan(30e6); // node alone is over 24 MB compressed: it was counted
  });
});
