// The figures really draw: the HTML report, and a notebook executed with the tslab kernel and exported
// to HTML, opened in headless Chromium (Debian's chromium through playwright-core) with the network
// blocked; every figure must draw an SVG mark per data point. Screenshots go to test/out/.
// Skips, saying why, without Chromium (or, for the notebook, without Jupyter and the tslab kernel).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { figuresFor, readResults, renderReport, runFile } from '../../index.js';
import { BENCH_RESULTS, cpuStreamingResults } from '../results-fixtures.js';

const ROOT = join(import.meta.dirname, '..', '..');
const OUT = join(ROOT, 'test', 'out');
const NOTEBOOK = join(ROOT, 'notebooks', 'streaming.ipynb');
const EXPERIMENTS = join(ROOT, 'experiments');

const CHROMIUM = [process.env['CHROMIUM_PATH'], '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => p && existsSync(p));

function jupyterMissing(): string | null {
  if (spawnSync('jupyter', ['nbconvert', '--version']).status !== 0) return 'jupyter nbconvert not found (README.md, Notebooks)';
  const paths = JSON.parse(spawnSync('jupyter', ['--paths', '--json'], { encoding: 'utf8' }).stdout) as { data: string[] };
  if (!paths.data.some((d) => existsSync(join(d, 'kernels', 'tslab', 'kernel.json')))) return 'the tslab kernel is not registered (README.md, Notebooks: npx tslab install --python=...)';
  return null;
}

const noChromium = CHROMIUM ? null : 'Chromium not found (apt-get install chromium, or set CHROMIUM_PATH)';
const noNotebook = noChromium ?? jupyterMissing();
if (noChromium) console.warn(`test/notebooks/browser.test.ts: skipped: ${noChromium}`);
else if (noNotebook) console.warn(`test/notebooks/browser.test.ts: notebook case skipped: ${noNotebook}`);

let browser: Browser;
beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  if (CHROMIUM) browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});
afterAll(async () => browser?.close());

interface Drawn {
  id: string;
  /** Data points in the figure's traces (gd.data, as plotly holds them). */
  points: number;
  /** SVG marks drawn for data points (bars, markers) with a non-empty outline. */
  marks: number;
  title: string;
}

/** Opens a page offline, waits for every figure to draw, screenshots it and reports what each drew. */
async function open(file: string, screenshot: string): Promise<{ drawn: Drawn[]; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.route('**/*', (route) => (route.request().url().startsWith('file:') ? route.continue() : route.abort()));
  await page.goto(`file://${file}`);
  await page.waitForFunction(() => {
    const figs = [...document.querySelectorAll('.vramlab-figure')];
    return figs.length > 0 && figs.every((f) => f.querySelector('svg.main-svg .point'));
  }, null, { timeout: 30_000 });
  const drawn = await page.$$eval('.vramlab-figure', (divs) =>
    divs.map((d) => {
      const data = (d as unknown as { data: { x: unknown[] }[] }).data;
      return {
        id: d.id,
        points: data.reduce((n, t) => n + t.x.length, 0),
        marks: [...d.querySelectorAll('.point')].filter((p) => ((p.querySelector('path') ?? p).getAttribute('d') ?? '').length > 3).length,
        title: d.querySelector('.gtitle')?.textContent ?? '',
      };
    }),
  );
  await page.screenshot({ path: screenshot, fullPage: true });
  await page.close();
  return { drawn, errors };
}

describe.skipIf(noChromium !== null)(`figures in headless Chromium${noChromium ? ` (skipped: ${noChromium})` : ''}`, () => {
  it('the HTML report draws every figure with a mark per data point', async () => {
    const experiments = [];
    for (const name of ['bandwidth', 'decode', 'breakpoints', 'steering'])
      for (const results of await runFile(join(EXPERIMENTS, `${name}.vlab`), { device: 'cpu' })) experiments.push({ source: `experiments/${name}.vlab (cpu)`, results });
    const inputs = [
      { source: 'bench/results/decode.json', results: readResults(join(BENCH_RESULTS, 'decode.json')) },
      { source: 'streaming with timelines (CPU, this test)', results: await cpuStreamingResults() },
      ...experiments,
    ];
    const file = join(OUT, 'report.html');
    const html = renderReport(inputs);
    writeFileSync(file, html);
    const { drawn, errors } = await open(file, join(OUT, 'report.png'));
    expect(errors).toEqual([]);
    const figures = inputs.flatMap((i) => figuresFor(i.results));
    expect(drawn.map((d) => d.points)).toEqual(figures.map((f) => f.data.reduce((n, t) => n + ((t as { x: unknown[] }).x?.length ?? 0), 0)));
    for (const d of drawn) {
      expect(d.points).toBeGreaterThan(0);
      expect(d.marks).toBe(d.points);
    }
    // bench decode: latency; streaming: bandwidth, 4 timelines, peak VRAM; bandwidth; decode and
    // decode_sessions: latency each; breakpoints; steering. Host-to-device bytes per decoded token is
    // left out of each decode result (unmeasured in the bench file, 0 on the CPU's resident model),
    // with a note instead of an empty figure.
    expect(drawn.length).toBe(1 + 6 + 1 + 1 + 1 + 1 + 1);
    expect(drawn.filter((d) => d.title.startsWith('Host-to-device bytes per decoded token'))).toEqual([]);
    expect(html.match(/<p class="left-out">[^<]*/g)?.map((n) => n.replace('<p class="left-out">', ''))).toEqual([
      'Host-to-device bytes per decoded token: not drawn: no row measured h2d_bytes_per_token',
      'Host-to-device bytes per decoded token: not drawn: h2d_bytes_per_token is 0 in every row (the weights and the KV cache stay on the device)',
      'Host-to-device bytes per decoded token: not drawn: h2d_bytes_per_token is 0 in every row (the weights and the KV cache stay on the device)',
    ]);
    expect(drawn[0]!.title).toContain('Decode latency per token');
    expect(drawn[0]!.title).toContain('NVIDIA H200');
  });

  it.skipIf(noNotebook !== null)(`an executed notebook exported to HTML draws its figures${noNotebook && !noChromium ? ` (skipped: ${noNotebook})` : ''}`, async () => {
    const out = join(OUT, 'notebooks');
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'run-notebooks.mjs'), NOTEBOOK, '--out', out, '--html'], { stdio: 'pipe' });
    const prompts = readFileSync(join(out, 'streaming.html'), 'utf8').match(/>In&nbsp;\[[^\]]*\]:</g) ?? [];
    expect(prompts.length).toBeGreaterThan(0);
    expect(prompts).toEqual(prompts.map((_, i) => `>In&nbsp;[${i + 1}]:<`)); // the kernel's counts, not In [ ]:
    const { drawn, errors } = await open(join(out, 'streaming.html'), join(OUT, 'notebook.png'));
    expect(errors).toEqual([]);
    expect(drawn.length).toBeGreaterThanOrEqual(3);
    for (const d of drawn) {
      expect(d.points).toBeGreaterThan(0);
      expect(d.marks).toBe(d.points);
      expect(d.title).toMatch(/commit [0-9a-f]{7}/);
    }
  }, 600_000);
});
