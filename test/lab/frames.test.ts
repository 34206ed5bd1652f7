// Results rows as danfojs DataFrames and as HTML tables.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { columnsOf, escapeHtml, frameHtml, median, medians, readResults, resultsFrame, rowsFrame } from '../../lab/index.js';
import { BENCH_RESULTS } from '../results-fixtures.js';

describe('rowsFrame', () => {
  it('keeps every row and the union of the columns, in first-seen order, null where a row lacks one', () => {
    const df = rowsFrame([
      { placement: 'stream', gbps: 52.1 },
      { placement: 'hf-accelerate', gbps: 6.5, offloaded: true },
    ]);
    expect(df.columns).toEqual(['placement', 'gbps', 'offloaded']);
    expect(df.shape).toEqual([2, 3]);
    expect(df.values).toEqual([
      ['stream', 52.1, null],
      ['hf-accelerate', 6.5, true],
    ]);
  });

  it('keeps large integers exact and turns nested values into JSON text', () => {
    const df = rowsFrame([{ bytes: 581844992000, timeline: [{ layer: 0 }] }]);
    expect(df.values).toEqual([[581844992000, '[{"layer":0}]']]);
  });

  it('gives an empty frame with the columns asked for', () => {
    const df = rowsFrame([], ['a', 'b']);
    expect(df.shape).toEqual([0, 2]);
    expect(df.columns).toEqual(['a', 'b']);
  });

  it('loads danfojs on first use, not when the package is imported', () => {
    const script = `
      import { createRequire } from 'node:module';
      import { rowsFrame } from 'vramlab';
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('danfojs-node'));
      const before = loaded();
      rowsFrame([{ a: 1 }]);
      console.log(JSON.stringify([before, loaded()]));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: join(import.meta.dirname, '..', '..'), encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual([false, true]);
  });

  it('works with the danfojs API (query, column access)', () => {
    const df = resultsFrame(readResults(`${BENCH_RESULTS}/decode.json`));
    const vramlab = df.query(df['baseline'].eq('vramlab'));
    expect(vramlab.shape[0]).toBe(1);
    expect(df['per_token_ms'].values.length).toBe(df.shape[0]);
  });
});

describe('medians', () => {
  it('gives one row per group of equal parameters with the median of each metric over the runs that measured it', () => {
    const rows = [
      { placement: 'stream', ring: 1, gbps: 10, status: 'ok' },
      { placement: 'stream', ring: 2, gbps: 20, status: 'ok' },
      { placement: 'stream', ring: 1, gbps: 14, status: 'ok' },
      { placement: 'resident', ring: null, gbps: null, status: 'out_of_memory' },
      { placement: 'stream', ring: 1, gbps: 11, status: 'ok' },
    ];
    expect(medians(rows, ['placement', 'ring'], ['gbps', 'missing'])).toEqual([
      { placement: 'stream', ring: 1, gbps: 11, missing: null, runs: 3, status: 'ok' },
      { placement: 'stream', ring: 2, gbps: 20, missing: null, runs: 1, status: 'ok' },
      { placement: 'resident', ring: null, gbps: null, missing: null, runs: 1, status: 'out_of_memory' },
    ]);
  });

  it('median of an even count is the mean of the middle two; of none, NaN', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});

describe('columnsOf', () => {
  it('lists the keys of all rows once', () => {
    expect(columnsOf([{ a: 1 }, { b: 2, a: 3 }, {}])).toEqual(['a', 'b']);
  });
});

describe('frameHtml', () => {
  it('renders a table with a header, escaped cells, numbers right-aligned and nulls empty', () => {
    const html = frameHtml(rowsFrame([{ name: '<b>&', value: 1.5, missing: null }]), { caption: 'a "caption"' });
    expect(html).toContain('<caption>a &quot;caption&quot;</caption>');
    expect(html).toContain('<th>name</th><th>value</th><th>missing</th>');
    expect(html).toContain('<tr><td>&lt;b&gt;&amp;</td><td class="num">1.500</td><td></td></tr>');
  });

  it('has one body row per frame row', () => {
    const results = readResults(`${BENCH_RESULTS}/correctness.json`);
    const html = frameHtml(resultsFrame(results));
    expect(html.match(/<tr>/g)).toHaveLength(results.rows.length + 1);
    for (const row of results.rows) expect(html).toContain(`<td>${String(row['model'])}</td>`);
  });
});

describe('escapeHtml', () => {
  it('escapes the five HTML metacharacters', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});
