// Progress on a terminal (issue 18): `vramlab run` draws its bar on stderr with the time since the
// start and an estimate of what is left; nothing is drawn when stderr is not a terminal. The bar
// alone with a fake terminal and clock, then the real binary under a pseudo-terminal (util-linux
// `script`; skipped, saying so, without it).
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatDuration, progressBar } from '../../cli/progress.js';
import { tempDir } from '../helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'cli', 'vramlab.js');
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

  it('not a terminal: nothing is written', () => {
    const term = terminal();
    const bar = progressBar({ ...term.stream, isTTY: false } as unknown as NodeJS.WriteStream, { timed: true });
    bar.update({ done: 1, total: 2, label: 'x' });
    bar.end();
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
