// Every figure that figuresFor makes of each experiment's CPU results, drawn through figureHtml by
// plotly in headless Chromium (Debian's chromium through playwright-core, the network blocked) at the
// least width figureHtml allows and at a wide page, and read back from the DOM (figure-geometry.ts):
// no two text labels overlap, no trace is drawn flat on its axis, every numeric axis ticks monotonic
// numbers, every bar label stays in its bar's slot. Known-bad figures show that each check fails
// where it should. Screenshots go to test/out/figures/. Skips, saying why, without Chromium; the
// experiments run (and the paging variant's pressure is checked) either way.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drawnLayout, type Figure, figureHtml, figuresFor, layout, logAxis, plotlyScript, type Results, runFile } from '../../index.js';
import { figureGeometry, type Violation } from './figure-geometry.js';

const ROOT = join(import.meta.dirname, '..', '..');
const OUT = join(ROOT, 'test', 'out', 'figures');
const EXPERIMENTS = ['agents', 'bandwidth', 'breakpoints', 'decode', 'paging', 'steering', 'streaming'];
/** A page wider than any figure's least width: the report's. */
const WIDE_PX = 1400;

const CHROMIUM = [process.env['CHROMIUM_PATH'], '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => p && existsSync(p));
const noChromium = CHROMIUM ? null : 'Chromium not found (apt-get install chromium, or set CHROMIUM_PATH)';
if (noChromium) console.warn(`test/notebooks/figure-geometry.test.ts: the browser cases skipped: ${noChromium}`);

const results = new Map<string, Results[]>();
let browser: Browser | undefined;
let page: Page;
const errors: string[] = [];
beforeAll(async () => {
  mkdirSync(OUT, { recursive: true });
  for (const name of EXPERIMENTS) results.set(name, await runFile(join(ROOT, 'experiments', `${name}.vlab`), { device: 'cpu' }));
  if (!CHROMIUM) return;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: WIDE_PX + 40, height: 900 } });
  page.on('pageerror', (e) => errors.push(e.message));
  await page.route('**/*', (route) => route.abort()); // offline: plotly.js is on the page
  await page.setContent(`<!doctype html><html><body style="margin: 0">${plotlyScript()}<div id="figures"></div></body></html>`);
}, 300_000);
afterAll(async () => browser?.close());

interface Drawn {
  title: string;
  violations: Violation[];
}

/**
 * Draws each figure through figureHtml in a box `width` px wide (0: its least width) and returns
 * what figureGeometry reads from each; the screenshot goes to test/out/figures/NAME.png.
 */
async function draw(figures: readonly Figure[], width: number, name: string): Promise<Drawn[]> {
  const html = figures.map((f, i) => `<div style="width: ${width || drawnLayout(f).minWidth}px">${figureHtml(f, `figure-${i}`)}</div>`).join('\n');
  await page.evaluate((markup) => {
    const box = document.getElementById('figures') as HTMLElement;
    box.innerHTML = markup;
    // Scripts set through innerHTML do not run; copies of them do.
    for (const old of box.querySelectorAll('script')) {
      const script = document.createElement('script');
      script.textContent = old.textContent;
      old.replaceWith(script);
    }
  }, html);
  await page.waitForFunction((n) => [...document.querySelectorAll('.vramlab-figure')].filter((d) => d.querySelector('svg.main-svg')).length === n, figures.length, { timeout: 30_000 });
  const drawn = await page.$$eval('.vramlab-figure', (divs, check) => {
    const geometry = new Function(`return (${check})`)() as (d: HTMLElement) => Violation[];
    return divs.map((d) => ({ title: d.querySelector('.gtitle')?.textContent ?? '', violations: geometry(d as HTMLElement) }));
  }, figureGeometry.toString());
  await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });
  expect(errors).toEqual([]);
  return drawn;
}

const titleOf = (f: Figure) => (f.layout.title as { text: string }).text.replace(/<br>.*/s, '');

describe('the CPU variants show their mechanisms', () => {
  it('paging: its KV pool is what the 4 MB budget leaves (no kv_pool); 2 sessions fit, 4 and 8 page, and the demand crosses the budget line', () => {
    const [r] = results.get('paging') as Results[];
    const rows = r!.rows;
    const pool = rows[0]!['kv_pool_tokens'] as number;
    const context = rows[0]!['context_tokens'] as number;
    expect(rows.every((row) => row['kv_pool_tokens'] === pool && row['budget_bytes'] === 4_000_000)).toBe(true);
    expect(2 * context).toBeLessThanOrEqual(pool);
    expect(4 * context).toBeGreaterThan(pool);
    const moved = (policy: string, sessions: number) => rows.filter((row) => row['policy'] === policy && row['sessions'] === sessions).map((row) => (row['paged_out_bytes'] as number) + (row['paged_in_bytes'] as number));
    for (const policy of ['next-use', 'lru']) {
      expect(moved(policy, 2)).toEqual([0]);
      for (const n of [4, 8]) expect(moved(policy, n)[0]).toBeGreaterThan(0);
    }
    const demand = figuresFor(r!).find((f) => titleOf(f).startsWith('Memory oversubscription'))!;
    const budget = demand.layout.shapes![0]!.y0 as number;
    const logical = (demand.data[1] as { y: number[] }).y;
    expect(logical[0]!).toBeLessThan(budget);
    expect(logical[logical.length - 1]!).toBeGreaterThan(budget * 1.1);
    // The y axis says MB, and the budget line's label is in MB too.
    expect(demand.layout.yaxis!.title).toEqual({ text: 'MB' });
    expect(demand.layout.annotations![0]!.text).toBe('budget 4.00 MB');
  });
});

describe.skipIf(noChromium !== null)(`figures drawn in headless Chromium read at any scale${noChromium ? ` (skipped: ${noChromium})` : ''}`, () => {
  it.each(EXPERIMENTS)('%s: no overlapping labels, no flat trace, monotonic numeric ticks, labels in their bars\' slots', async (name) => {
    const figures = (results.get(name) as Results[]).flatMap((r) => figuresFor(r));
    expect(figures.length).toBeGreaterThan(0);
    for (const [width, suffix] of [[0, 'least'], [WIDE_PX, 'wide']] as const) {
      const drawn = await draw(figures, width, `${name}-${suffix}`);
      expect(drawn.map((d) => d.title.replace(/cpu \(.*$/, ''))).toEqual(figures.map(titleOf));
      const got = drawn.map((d, i) => ({ title: titleOf(figures[i]!), width: suffix, violations: d.violations }));
      expect(got).toEqual(figures.map((f) => ({ title: titleOf(f), width: suffix, violations: [] })));
    }
  }, 120_000);
});

describe.skipIf(noChromium !== null)(`each geometry check fails on a figure made to fail it${noChromium ? ` (skipped: ${noChromium})` : ''}`, () => {
  const r: Results = { benchmark: 'none', device: 'cpu', commit: '0000000', rows: [] };
  const bar = (n: number) => ({ type: 'bar' as const, name: 'bars', x: Array.from({ length: n }, (_, i) => `b${i}`), y: Array.from({ length: n }, (_, i) => i + 1) });
  const label = (x: number, y: number, text: string) => ({ xref: 'x' as const, x, yref: 'y' as const, y, yanchor: 'bottom' as const, text, showarrow: false });
  const one = async (f: Figure) => (await draw([f], 0, `known-bad-${titleOf(f).replace(/ /g, '-')}`))[0]!.violations;

  it('overlap: two labels at the same place', async () => {
    const f: Figure = { data: [bar(2)], layout: layout('two labels', r, { annotations: [label(0, 1, 'one label'), label(0, 1, 'another')], yaxis: { range: [0, 3] } }) };
    expect(await one(f)).toEqual([{ check: 'overlap', what: '"one label" and "another"' }]);
  });

  it('flat: 2 MB of demand on a GB axis that holds a 64 MB budget line', async () => {
    const f: Figure = { data: [{ type: 'scatter', mode: 'lines+markers', name: 'demand', x: [2, 4, 8], y: [0.0018, 0.0019, 0.0022] }], layout: layout('flat', r, { shapes: [{ type: 'line', xref: 'paper', x0: 0, x1: 1, yref: 'y', y0: 0.064, y1: 0.064 }], yaxis: { range: [0, 0.07] } }) };
    expect(await one(f)).toEqual([{ check: 'flat', what: 'trace "demand" spans 0.57% of the y axis (0.00180 to 0.00220 of 0.00 to 0.0700)' }]);
  });

  it('ticks: plotly\'s own ticks of a log axis over 60 to 700 ("6 7 8 9 100 2 3 ...")', async () => {
    // (a tall plot, so that plotly's small labels do not overlap too)
    const f: Figure = { data: [{ type: 'scatter', mode: 'markers', name: 'tokens/s', x: [1, 2, 4], y: [60, 250, 700] }], layout: layout('log', r, { yaxis: { type: 'log' }, height: 900 }) };
    expect(await one(f)).toEqual([{ check: 'ticks', what: 'the y axis ticks "6 7 8 9 100 2 3 4 5 6 7 8" are not monotonic' }]);
    // The same on logAxis's ticks: 1, 2, 5 x 10^k in full.
    const fixed: Figure = { ...f, layout: { ...f.layout, yaxis: logAxis([60, 250, 700], 690) } };
    expect(await one(fixed)).toEqual([]);
    expect(fixed.layout.yaxis!.ticktext).toEqual(['100', '200', '500']);
  });

  it('slot: a label wider than its bar\'s slot', async () => {
    const f: Figure = { data: [bar(8)], layout: layout('slot', r, { annotations: [label(2, 3.2, '0.00 GB out, 0.00 GB in (a long label)')], yaxis: { range: [0, 10] } }) };
    expect(await one(f)).toEqual([{ check: 'slot', what: 'label "0.00 GB out, 0.00 GB in (a long label)" leaves the slot of its bar' }]);
    // A bar's own text, outside it and not shrunk to it.
    const text: Figure = { data: [{ ...bar(8), text: ['', '', 'a bar text wider than its slot', '', '', '', '', ''], textposition: 'outside', constraintext: 'none', cliponaxis: false }], layout: layout('bar text', r, { yaxis: { range: [0, 10] } }) };
    expect(await one(text)).toEqual([{ check: 'slot', what: 'bar text "a bar text wider than its slot" leaves its bar\'s slot' }]);
  });
});
