// run-notebooks.mjs: executes notebooks headless (Jupyter's nbconvert with the tslab kernel) and fails
// on any error output (an error, or anything on stderr). `npm run notebooks` runs every notebooks/*.ipynb.
//
//   node scripts/run-notebooks.mjs [NOTEBOOK.ipynb...] [--out DIR] [--html] [--timeout SECONDS]
//
// Executed copies go to --out (default notebooks/executed/, git-ignored), with an HTML export of each
// under --html. The kernel runs in the notebook's folder, so notebooks use paths relative to notebooks/.
import './link-self.mjs';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values, positionals } = parseArgs({
  options: { out: { type: 'string' }, html: { type: 'boolean' }, timeout: { type: 'string', default: '900' } },
  allowPositionals: true,
});
const out = resolve(values.out ?? join(root, 'notebooks', 'executed'));
const notebooks = positionals.length > 0
  ? positionals.map((p) => resolve(p))
  : readdirSync(join(root, 'notebooks')).filter((f) => f.endsWith('.ipynb')).sort().map((f) => join(root, 'notebooks', f));
if (notebooks.length === 0) fail('no notebooks to run (notebooks/*.ipynb)');
mkdirSync(out, { recursive: true });

const CONFIG = join(root, 'scripts', 'nbconvert_config.py');

// The kernel spec starts `tslab`: the project's own, from node_modules/.bin.
const env = { ...process.env, PATH: `${join(root, 'node_modules', '.bin')}:${process.env.PATH ?? ''}` };

function fail(message) {
  console.error(`run-notebooks: ${message}`);
  process.exit(1);
}

function nbconvert(args, what) {
  const r = spawnSync('jupyter', ['nbconvert', ...args], { env, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.error?.code === 'ENOENT')
    fail('jupyter not found: install Jupyter (Debian: apt-get install jupyter-nbconvert jupyter-notebook python3-nbclient; or pip install nbconvert nbclient notebook), see README.md, Notebooks');
  if (r.status !== 0) {
    const log = `${r.stderr}`.trim().split('\n');
    if (log.some((l) => l.includes('No such kernel named tslab')))
      fail(`${what}: the tslab kernel is not registered: run npx tslab install --python="$(sed -n '1s/^#! *//p' "$(command -v jupyter)")" (README.md, Notebooks)`);
    fail(`${what}: nbconvert failed (status ${r.status}): ${log.slice(-3).join(' | ')}`);
  }
}

/** The telling line of an output: an "...Error: ..." line, a tslab diagnostic ("1:7 - ..."), or the first. */
function headline(text) {
  const lines = (Array.isArray(text) ? text.join('') : String(text ?? '')).split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.find((l) => /^\w*Error\b|^\d+:\d+ - /.test(l)) ?? lines[0] ?? '';
}

/** "cell N: message" for every error output and stderr stream of an executed notebook. */
function errorsOf(path) {
  const nb = JSON.parse(readFileSync(path, 'utf8'));
  const found = [];
  nb.cells.forEach((cell, i) => {
    for (const o of cell.outputs ?? []) {
      if (o.output_type === 'error') found.push(`cell ${i + 1}: ${o.ename}: ${headline(o.evalue)}`);
      else if (o.output_type === 'stream' && o.name === 'stderr') found.push(`cell ${i + 1}: stderr: ${headline(o.text)}`);
    }
  });
  return found;
}

let failed = 0;
for (const nb of notebooks) {
  const name = relative(process.cwd(), nb);
  const executed = join(out, basename(nb));
  const t0 = Date.now();
  // --config: the kernel's execution counts kept (scripts/nbconvert_config.py says why they were lost).
  nbconvert(['--to', 'notebook', '--execute', '--allow-errors', `--ExecutePreprocessor.timeout=${values.timeout}`, '--config', CONFIG, '--output-dir', out, nb], name);
  const errors = errorsOf(executed);
  for (const e of errors) console.error(`${name}: ${e}`);
  if (errors.length > 0) failed++;
  if (values.html) nbconvert(['--to', 'html', '--output-dir', out, executed], `${name} (HTML export)`);
  console.log(`${name}: ${errors.length === 0 ? 'ok' : `${errors.length} error output${errors.length === 1 ? '' : 's'}`} (${((Date.now() - t0) / 1000).toFixed(1)} s) -> ${relative(process.cwd(), executed)}`);
}
if (failed > 0) fail(`${failed} of ${notebooks.length} notebook${notebooks.length === 1 ? '' : 's'} had error output`);
