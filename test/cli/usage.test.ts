// The command line as a new user meets it (issue 18): --version, COMMAND --help, argument errors,
// run's exit statuses and diagnostics, generation past max_position_embeddings.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GQA, ROOT, tempDir, vramlab } from '../helpers.js';

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('vramlab --version and COMMAND --help', () => {
  it('--version prints the package version', () => {
    const r = vramlab('--version');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`vramlab ${(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version}\n`);
  });

  it.each(['logits', 'generate', 'info', 'demo', 'report', 'check', 'plan', 'run'])('%s --help prints that command\'s own usage and exits 0', (command) => {
    const r = vramlab(command, '--help');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.startsWith(`usage: vramlab ${command}`)).toBe(true);
    expect(r.stdout).not.toMatch(/^commands:/m); // not the global help
  });

  it('the global help states the device default of plan and run', () => {
    expect(vramlab('--help').stdout).toMatch(/--device cpu\|cuda:N .*plan and run: the file's own device/);
  });
});

describe('argument errors', () => {
  it.each([
    ['check', ['x.vlab', '--out', 'd'], "unknown option '--out' (did you mean --set?) (see vramlab check --help)"],
    ['plan', ['x.vlab', '--bogus'], "unknown option '--bogus' (see vramlab plan --help)"],
    ['run', ['x.vlab', '--bogus'], "unknown option '--bogus' (see vramlab run --help)"],
    ['generate', [GQA, '--bogus'], "unknown option '--bogus' (see vramlab generate --help)"],
    ['info', [GQA, '-x'], "unknown option '-x' (see vramlab info --help)"],
    ['report', ['a.json', '--bogus'], "unknown option '--bogus' (usage: vramlab report RESULTS.json... --out report.html [--title TEXT])"],
  ])('%s: an unknown option is named on one line, quotes balanced, pointing to the command\'s help', (command, args, want) => {
    const r = vramlab(command, ...args);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`vramlab: ${want}\n`);
  });


  it('--max-new-tokens: a positive integer, or -1 (the default)', () => {
    const r = vramlab('generate', GQA, '--ids', '1', '--max-new-tokens', '-2');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('vramlab: --max-new-tokens: "-2" must be a positive integer, or -1 (the default: to the context\'s end) (see vramlab --help)\n');
    expect(vramlab('generate', GQA, '--ids', '1', '--max-new-tokens', '0').stderr).toBe('vramlab: --max-new-tokens: "0" must be a positive integer (see vramlab --help)\n');
  });

  it('prompt plus new tokens past max_position_embeddings is one line naming both numbers', () => {
    const r = vramlab('generate', GQA, '--ids', '1,2,3', '--max-new-tokens', '5000');
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe("vramlab: a 3-token prompt plus 5000 new tokens is 5003 positions, more than the model's max_position_embeddings 1024\n");
  });
});

describe('vramlab run: exit status and diagnostics', () => {
  const TINY = (name: string, device: string) => `experiment ${name} {\n  measure = decode\n  model = synthetic(tiny)\n  device = ${device}\n  prompt = 16 tokens\n  new_tokens = 2\n  repeat = 1\n}\n`;
  const statuses = (name: string) => (JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as { rows: { status: string }[] }).rows.map((r) => r.status);

  it('exits 1 when every row is an error, 2 when some are, 0 when none', () => {
    const file = join(dir, 'mixed.vlab');
    const broken = `experiment broken {\n  measure = decode\n  model = "${join(ROOT, 'test/fixtures/hostile/header-past-end')}"\n  prompt = 4 tokens\n  new_tokens = 2\n  repeat = 1\n}\n`;
    writeFileSync(file, TINY('on_cpu', 'cpu') + broken);
    const mixed = vramlab('run', file, '--out', dir);
    expect(statuses('on_cpu').every((s) => s === 'ok')).toBe(true);
    expect(mixed.status).toBe(2);
    expect(mixed.stderr).toMatch(/^vramlab: 3 of 6 rows failed$/m);
    writeFileSync(file, broken);
    const all = vramlab('run', file, '--out', dir);
    expect(all.status).toBe(1);
    expect(all.stderr).toMatch(/^vramlab: every row failed \(3 of 3\)$/m);
    writeFileSync(file, TINY('on_cpu', 'cpu'));
    expect(vramlab('run', file, '--out', dir).status).toBe(0);
  });

  it('a device the machine lacks: exit 1 before any row', () => {
    const file = join(dir, 'gpu.vlab');
    writeFileSync(file, TINY('on_cpu', 'cpu') + TINY('on_gpu', 'cuda:99'));
    const r = vramlab('run', file, '--out', dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^vramlab: ${file}:12:12: device = cuda:99: .*; run it with --device cpu to use the CPU\\n$`));
  });

  it('a one-row experiment: "1 row", and 2 rows as "2 rows"', () => {
    const file = join(dir, 'rows.vlab');
    const one = (name: string, baselines: string) => `experiment ${name} {\n  measure = decode\n  model = synthetic(tiny)\n  device = cpu\n  baselines = [${baselines}]\n  prompt = 16 tokens\n  new_tokens = 2\n  repeat = 1\n}\n`;
    writeFileSync(file, one('single', 'kv-cache') + one('pair', 'kv-cache, generate'));
    const r = vramlab('run', file, '--out', dir);
    expect(r.status).toBe(0);
    expect(r.stdout.trimEnd().split('\n').filter((l) => l.includes(' -> '))).toEqual([
      `single: 1 row (1 ok), check passed -> ${join(dir, 'single.json')}, ${join(dir, 'single.csv')}`,
      `pair: 2 rows (2 ok), check passed -> ${join(dir, 'pair.json')}, ${join(dir, 'pair.csv')}`,
    ]);
    expect(statuses('single')).toEqual(['ok']);
  });

  it('shows every diagnostic check shows, not only the first', () => {
    const file = join(dir, 'two.vlab');
    writeFileSync(file, 'experiment a {\n  measure = decode\n  model = synthetic(tiny)\n  budget = 12\n  repeat = 0\n}\n');
    const check = vramlab('check', file);
    const run = vramlab('run', file, '--out', dir);
    expect(run.status).toBe(1);
    expect(check.stderr.split('\n').filter((l) => l.includes(': error: '))).toHaveLength(2);
    expect(run.stderr).toBe(check.stderr);
  });

  it('a binary file: one "not a text file" diagnostic at its first NUL, line:col, from check, plan and run', () => {
    const file = join(dir, 'binary.vlab');
    // a text start, then bytes of an executable: a NUL, control bytes, invalid UTF-8, 4 KiB of zeros
    writeFileSync(file, Buffer.concat([Buffer.from('experiment a {\n  measure'), Buffer.from([0, 1, 2, 0xff, 0x7f, 0x45, 0x4c, 0x46]), Buffer.alloc(4096, 0)]));
    const want = `${file}:2:10: error: not a text file: a NUL byte\n  hint: .vlab files are UTF-8 text: is this the right file?\n`;
    for (const args of [['check'], ['plan'], ['run', '--out', dir]]) {
      const r = vramlab(args[0] as string, file, ...args.slice(1));
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(want);
    }
  });

  it('a Latin-1 file: one diagnostic at the first byte that is not UTF-8', () => {
    const file = join(dir, 'latin1.vlab');
    writeFileSync(file, Buffer.concat([Buffer.from('// caf'), Buffer.from([0xe9]), Buffer.from('\nexperiment a {\n  measure = decode\n  // na'), Buffer.from([0xef]), Buffer.from('ve\n}\n')]));
    const r = vramlab('check', file);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`${file}:1:7: error: not a text file: byte 0xE9 is not UTF-8\n  hint: .vlab files are UTF-8 text: is this the right file?\n`);
  });

  it('at most 20 diagnostics, then "and N more"', () => {
    const file = join(dir, 'many.vlab');
    writeFileSync(file, 'experiment a {\n  measure = decode\n  model = synthetic(tiny)\n' + Array.from({ length: 30 }, (_, i) => `  nope${i} = 1\n`).join('') + '}\n');
    const r = vramlab('check', file);
    expect(r.status).toBe(1);
    const lines = r.stderr.trimEnd().split('\n').filter((l) => !l.startsWith('  hint'));
    expect(lines.filter((l) => l.includes(': error: '))).toHaveLength(20);
    expect(lines[lines.length - 1]).toBe(`${file}: and 10 more`);
    const run = vramlab('run', file, '--out', dir);
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(r.stderr);
  });
});
