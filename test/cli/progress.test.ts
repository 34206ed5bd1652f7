// Progress on a terminal (issue 18): `vramlab run` draws its bar on stderr with the time since the
// start and an estimate of what is left, and a model's load (logits, generate, demo, repl, run) its
// bytes placed of all; nothing is drawn when stderr is not a terminal. The bar alone with a fake
// terminal and clock, then the real binary under a pseudo-terminal (util-linux `script`; skipped,
// saying so, without it).
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatDuration, loadingBar, modelLabel, progressBar } from '../../cli/progress.js';
import { CLI, GQA, ROOT, tempDir } from '../helpers.js';

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function terminal(columns = 120) {
  const writes: string[] = [];
  return { stream: { isTTY: true, columns, write: (s: string) => writes.push(s) > 0 }, writes, lines: () => writes.map((w) => w.replace(/^\r/, '').replace(/\x1b\[K$/, '')) };
}

describe('the progress bar', () => {
  it('formats durations as people read them', () => {
    expect([0, 5400, 59_400, 65_000, 3_599_000, 3_720_000].map(formatDuration)).toEqual(['0s', '5s', '59s', '1m05s', '59m59s', '1h02m']);
  });

  it('timed: elapsed time and what is left at the pace so far; nothing left to estimate at the end', () => {
    let t = 1000;
    const term = terminal();
    const bar = progressBar(term.stream as unknown as NodeJS.WriteStream, { timed: true, now: () => t });
    t += 30_000;
    bar.update({ done: 1, total: 4, label: 'decode: kv-cache run 1/2' });
    t += 30_000;
    bar.update({ done: 4, total: 4, label: 'decode: kv-cache run 2/2' });
    bar.end();
    expect(term.lines()).toEqual([
      '[#####...............] 1/4  30s, about 1m30s left  decode: kv-cache run 1/2',
      '[####################] 4/4  1m00s  decode: kv-cache run 2/2',
      '',
    ]);
  });

  it('untimed (generate): the count alone; a terminal of unknown width (0 columns) is taken as 80 wide', () => {
    const term = terminal(0);
    const bar = progressBar(term.stream as unknown as NodeJS.WriteStream);
    bar.update({ done: 5, total: 32, label: 'tokens' });
    expect(term.lines()).toEqual(['[###.................]  5/32  tokens']);
  });

  it('a load: the bytes placed of all, the time and what is left, "loading NAME"; cleared at the end', () => {
    let t = 0;
    const term = terminal();
    const bar = loadingBar('models/llama-2-7b/', term.stream as unknown as NodeJS.WriteStream, { now: () => t });
    t += 4000;
    bar.onProgress(3.2 * 2 ** 30, 12.8 * 2 ** 30);
    t += 12_000;
    bar.onProgress(12.8 * 2 ** 30, 12.8 * 2 ** 30);
    bar.end();
    expect(term.lines()).toEqual([
      '[#####...............] 3.20 GiB / 12.80 GiB  4s, about 12s left  loading llama-2-7b',
      '[####################] 12.80 GiB / 12.80 GiB  16s  loading llama-2-7b',
      '',
    ]);
    expect(modelLabel('synthetic:llama-7b,layers=2')).toBe('synthetic:llama-7b,layers=2');
  });

  it('a load that never reported (it failed first): end() writes nothing', () => {
    const term = terminal();
    loadingBar('x', term.stream as unknown as NodeJS.WriteStream).end();
    expect(term.writes).toEqual([]);
  });

  it('not a terminal: nothing is written', () => {
    const term = terminal();
    const bar = progressBar({ ...term.stream, isTTY: false } as unknown as NodeJS.WriteStream, { timed: true });
    bar.update({ done: 1, total: 2, label: 'x' });
    bar.end();
    const load = loadingBar('x', { ...term.stream, isTTY: false } as unknown as NodeJS.WriteStream);
    load.onProgress(1, 2);
    load.end();
    expect(term.writes).toEqual([]);
  });
});

const noScript = spawnSync('script', ['--version']).status === 0 ? null : 'util-linux script not found';
if (noScript) console.warn(`test/cli/progress.test.ts: the terminal case skipped: ${noScript}`);

describe.skipIf(noScript !== null)(`vramlab run on a terminal${noScript ? ` (skipped: ${noScript})` : ''}`, () => {
  it('draws the bar with elapsed time and an estimate, then clears it before the summary', () => {
    const file = join(dir, 'p.vlab');
    writeFileSync(file, 'experiment p {\n  measure = decode\n  model = synthetic(tiny)\n  device = cpu\n  baselines = [kv-cache]\n  prompt = 16 tokens\n  new_tokens = 2\n  repeat = 3\n}\n');
    const command = [process.execPath, CLI, 'run', file, '--out', dir].map((a) => `'${a}'`).join(' ');
    const r = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', cwd: ROOT });
    expect(r.status).toBe(0);
    const lines = r.stdout.split(/\r\n?|\n/).map((l) => l.replace(/\x1b\[K/g, ''));
    const bars = lines.filter((l) => l.startsWith('['));
    expect(bars.length).toBeGreaterThan(1);
    for (const b of bars) expect(b).toMatch(/^\[[#.]{20}\] +\d+\/\d+  \d+(m\d\ds|s)(, about \d+(m\d\ds|s) left)?  p: /);
    expect(bars.some((b) => /, about .* left/.test(b))).toBe(true);
    expect(lines).toContain(`p: 3 rows (3 ok), check passed -> ${join(dir, 'p.json')}, ${join(dir, 'p.csv')}`);
  });
});

describe.skipIf(noScript !== null)(`a model's load on a terminal${noScript ? ` (skipped: ${noScript})` : ''}`, () => {
  const onTerminal = (...args: string[]) => {
    const command = [process.execPath, CLI, ...args].map((a) => `'${a}'`).join(' ');
    const r = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', cwd: ROOT });
    return { status: r.status, lines: r.stdout.split(/\r\n?|\n/).map((l) => l.replace(/\x1b\[K/g, '')) };
  };

  const script = join(dir, 'repl.txt');
  writeFileSync(script, 'help\n');
  it.each([
    ['logits', GQA, '--ids', '1,2,3'],
    ['generate', GQA, '--ids', '1,2,3', '--max-new-tokens', '2'],
    ['demo'],
    ['repl', GQA, '--script', script],
  ])('vramlab %s: "loading NAME" with its bytes, full at the end, cleared before the output', (...args) => {
    const r = onTerminal(...args);
    expect(r.status).toBe(0);
    const bars = r.lines.filter((l) => l.includes('loading tiny-llama-gqa'));
    expect(bars.length).toBeGreaterThan(0);
    for (const b of bars) expect(b).toMatch(/^\[[#.]{20}\] [\d.]+ (B|KiB|MiB) \/ 1\.57 MiB  \d+s(, about \d+s left)?  loading tiny-llama-gqa$/);
    expect(bars.at(-1)).toMatch(/^\[#{20}\] 1\.57 MiB \/ 1\.57 MiB  \d+s  loading tiny-llama-gqa$/);
    // The bar's line is cleared: the output that follows starts at the line's start.
    const last = r.lines.map((l) => l.includes('loading')).lastIndexOf(true);
    expect(r.lines.slice(last + 1).join('\n')).not.toContain('loading');
    expect(r.lines.slice(last + 1).join('\n').trim()).not.toBe('');
  });

  it('vramlab run: the step that loads its model shows the load after its label, on the run\'s bar', () => {
    const file = join(dir, 'load.vlab');
    writeFileSync(file, 'experiment load {\n  measure = decode\n  model = synthetic(tiny)\n  device = cpu\n  baselines = [kv-cache]\n  prompt = 16 tokens\n  new_tokens = 2\n}\n');
    const command = [process.execPath, CLI, 'run', file, '--out', dir].map((a) => `'${a}'`).join(' ');
    const r = spawnSync('script', ['-qec', `stty cols 200; ${command}`, '/dev/null'], { encoding: 'utf8', cwd: ROOT });
    expect(r.status).toBe(0);
    const bars = r.stdout.split(/\r\n?|\n/).map((l) => l.replace(/\x1b\[K/g, '')).filter((l) => l.includes('  loading '));
    expect(bars.length).toBeGreaterThan(0);
    for (const b of bars) expect(b).toMatch(/^\[[#.]{20}\] +\d+\/\d+  \d+s(, about \d+s left)?  load: decode kv-cache warm-up  loading synthetic:tiny [\d.]+ (B|KiB|MiB) \/ 1\.57 MiB$/);
    expect(bars.at(-1)).toMatch(/ 1\.57 MiB \/ 1\.57 MiB$/);
  });

  it('not a terminal (a pipe): no bar', () => {
    const r = spawnSync(process.execPath, [CLI, 'logits', GQA, '--ids', '1,2,3'], { encoding: 'utf8', cwd: ROOT });
    expect(r.status).toBe(0);
    expect(r.stderr).not.toContain('loading');
  });
});
