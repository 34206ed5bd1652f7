// Executed notebooks keep their execution counts (issue 18): scripts/run-notebooks.mjs on a small
// notebook with the tslab kernel; every code cell run gets the kernel's count (1, 2, ... in order,
// a count the notebook was saved with replaced), and the HTML export shows In [1]:, not In [ ]:.
// Skips, saying why, without Jupyter and the tslab kernel.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');

function jupyterMissing(): string | null {
  if (spawnSync('jupyter', ['nbconvert', '--version']).status !== 0) return 'jupyter nbconvert not found (README.md, Notebooks)';
  const paths = JSON.parse(spawnSync('jupyter', ['--paths', '--json'], { encoding: 'utf8' }).stdout) as { data: string[] };
  if (!paths.data.some((d) => existsSync(join(d, 'kernels', 'tslab', 'kernel.json')))) return 'the tslab kernel is not registered (README.md, Notebooks: npx tslab install --python=...)';
  return null;
}

const missing = jupyterMissing();
if (missing) console.warn(`test/notebooks/execution-counts.test.ts: skipped: ${missing}`);
const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Cell {
  cell_type: string;
  metadata: Record<string, unknown>;
  execution_count?: number | null;
  source: string[];
  outputs?: { output_type: string; text?: string[] }[];
}

const code = (source: string, count: number | null = null): Cell => ({ cell_type: 'code', execution_count: count, metadata: {}, source: [source], outputs: [] });

describe.skipIf(missing !== null)(`run-notebooks keeps the kernel's execution counts${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('In [1]:, In [2]:, In [3]: in the executed notebook and its HTML', () => {
    const cells: Cell[] = [
      { cell_type: 'markdown', metadata: {}, source: ['# counts'] },
      code('const x = 6 * 7;', 9), // saved with a stale count
      { cell_type: 'markdown', metadata: {}, source: ['between'] },
      code('console.log("x is", x);'),
      code('console.log(x + 1);'),
    ];
    const nb = { cells, metadata: { kernelspec: { display_name: 'TypeScript', language: 'typescript', name: 'tslab' }, language_info: { name: 'typescript' } }, nbformat: 4, nbformat_minor: 5 };
    writeFileSync(join(dir, 'counts.ipynb'), JSON.stringify(nb));
    const out = join(dir, 'executed');
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'run-notebooks.mjs'), join(dir, 'counts.ipynb'), '--out', out, '--html'], { stdio: 'pipe' });
    const executed = (JSON.parse(readFileSync(join(out, 'counts.ipynb'), 'utf8')) as { cells: Cell[] }).cells;
    expect(executed.filter((c) => c.cell_type === 'code').map((c) => c.execution_count)).toEqual([1, 2, 3]);
    expect(executed[3]?.outputs?.map((o) => o.text?.join(''))).toEqual(['x is 42\n']);
    const html = readFileSync(join(out, 'counts.html'), 'utf8');
    expect(html.match(/>In&nbsp;\[[^\]]*\]:</g)).toEqual(['>In&nbsp;[1]:<', '>In&nbsp;[2]:<', '>In&nbsp;[3]:<']);
  }, 120_000);
});
