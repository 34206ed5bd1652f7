// Columns as people read them: titles with units, each column in one number format, byte columns in
// one size unit, wide tables split so that a static page shows every column, CSV numbers at 6
// significant digits, counts with the right noun.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { allMeasures, columnFormat, columnFormats, columnTitle, counted, csvNumber, frameHtml, numberFormat, readResults, resultsFrame, rowsFrame, rowsToCsv, timeUnit } from '../../lab/index.js';
import { BENCH_RESULTS } from '../results-fixtures.js';

describe('columnTitle', () => {
  it.each([
    ['per_token_ms', 'per token (ms)'],
    ['effective_bandwidth_gbps', 'effective bandwidth (GB/s)'],
    ['peak_vram_gb', 'peak VRAM (GB)'],
    ['reason_p99_ms', 'reason P99 (ms)'],
    ['tokens_per_s', 'tokens/s'],
    ['load_s', 'load (s)'],
    ['h2d_bytes_per_token', 'H2D per token'],
    ['kv_pool_tokens', 'KV pool tokens'],
    ['decode_ms_per_token', 'decode per token (ms)'],
    ['logit_rel_err', 'logit rel. error'],
    ['run_id', 'run'],
    ['x_floor', '× floor'],
    ['sessions', 'sessions'],
    ['bytes', 'size'],
  ])('%s -> %s', (field, title) => {
    expect(columnTitle(field)).toBe(title);
  });

  it('gives a byte column the size unit it is written in', () => {
    expect(columnTitle('budget_bytes', 'GB')).toBe('budget (GB)');
    expect(columnTitle('h2d_bytes_per_token', 'MB')).toBe('H2D per token (MB)');
    expect(columnTitle('bytes', 'MB')).toBe('size (MB)'); // the copy size of bandwidth rows was "(MB)"
  });

  it('names every column of the bench results and of every measure\'s rows with words, not a bare unit', () => {
    const fields = new Set(readdirSync(BENCH_RESULTS).filter((f) => f.endsWith('.json')).flatMap((f) => readResults(join(BENCH_RESULTS, f)).rows.flatMap((r) => Object.keys(r))));
    for (const m of allMeasures()) for (const f of [...m.metrics, ...Object.keys(m.rowFields), ...m.parameters]) fields.add(f);
    for (const field of fields) for (const unit of [undefined, 'MB']) expect(columnTitle(field, unit), field).toMatch(/^[^\s(]/);
  });
});

describe('columnFormat', () => {
  it('writes a byte column in one size unit, in the title, not 1,047,320,985,600', () => {
    const f = columnFormat('weight_bytes', [1047320985600, 25275990016, null]);
    expect(f.title).toBe('weight (GB)');
    expect([1047320985600, 25275990016, null].map(f.format)).toEqual(['1,047', '25', '']);
    const mb = columnFormat('ring_bytes', [409600, 1500000]);
    expect(mb.title).toBe('ring (MB)');
    expect([409600, 1500000].map(mb.format)).toEqual(['0.410', '1.500']);
  });

  it('writes every number of a column with the same decimals: those that show its largest to 4 digits', () => {
    const f = columnFormat('per_token_ms', [24.6043, 3.94, 4.2812]);
    expect([24.6043, 3.94, 4.2812].map(f.format)).toEqual(['24.60', '3.94', '4.28']);
    const small = columnFormat('output_change', [0.001912864, 0.000822304]);
    expect([0.001912864, 0.000822304].map(small.format)).toEqual(['0.001913', '0.000822']);
  });

  it('integer columns get thousands separators, tiny columns the exponent form, strings stay', () => {
    expect(columnFormat('tokens_generated', [8, 1024]).format(1024)).toBe('1,024');
    const err = columnFormat('logit_rel_err', [0.00011768, 0, 3e-7]);
    expect([0.00011768, 0, 3e-7].map(err.format)).toEqual(['1.18e-4', '0', '3.00e-7']);
    expect(columnFormat('status', ['ok', 'out_of_memory']).format('out_of_memory')).toBe('out_of_memory');
  });
});

describe('columnFormats: size columns side by side share a unit', () => {
  it('paged out and paged in in one unit, not "paged out (MB)" beside "paged in (KB)"', () => {
    const fields = ['policy', 'paged_out_bytes', 'paged_in_bytes', 'wall_ms', 'host_store_bytes'];
    const columns = [['lru', 'next-use'], [2_539_520, 0], [854_016, 0], [420.5, 96.1], [1_048_576, 1_048_576]];
    const formats = columnFormats(fields, columns);
    expect(formats.map((f) => f.title)).toEqual(['policy', 'paged out (MB)', 'paged in (MB)', 'wall (ms)', 'host store (MB)']);
    expect(formats.map((f, i) => f.format(columns[i]![0]))).toEqual(['lru', '2.540', '0.8540', '420.5', '1.049']);
    // Alone, each column picks its own unit.
    expect(columnFormat('paged_in_bytes', columns[2]!).title).toBe('paged in (KB)');
  });

  it('a group takes the unit of its largest value; a column of no numbers takes its group\'s', () => {
    const formats = columnFormats(['budget_bytes', 'host_budget_bytes', 'ring_bytes'], [[4_000_000], [12_884_901_888], [null]]);
    expect(formats.map((f) => f.title)).toEqual(['budget (GB)', 'host budget (GB)', 'ring (GB)']);
    expect(formats[0]!.format(4_000_000)).toBe('0.004000');
  });

  it('in a table of the paging CPU results: every byte column beside another in one unit', () => {
    const rows = [{ policy: 'lru', logical_demand_bytes: 2_828_544, peak_vram_bytes: 3_868_568, peak_kv_device_bytes: 393_216, kv_pool_bytes: 393_216, paged_out_bytes: 3_014_656, paged_in_bytes: 2_228_224 }];
    const html = frameHtml(rowsFrame(rows));
    expect([...html.matchAll(/<th>([^<]*)<\/th>/g)].map((m) => m[1])).toEqual(['policy', 'logical demand (MB)', 'peak VRAM (MB)', 'peak KV device (MB)', 'KV pool (MB)', 'paged out (MB)', 'paged in (MB)']);
  });
});

describe('numberFormat and timeUnit: numbers of an axis or a label set, alike', () => {
  it('the decimals that show the largest to 3 significant digits, for every number', () => {
    const f = numberFormat(0.742);
    expect([0.742, 0.541, 0].map(f)).toEqual(['0.742', '0.541', '0.000']);
    expect([983, 100.4].map(numberFormat(983))).toEqual(['983', '100']);
    expect(numberFormat(2540)(2540)).toBe('2,540');
    expect(numberFormat(4, 3)(4)).toBe('4.00');
  });

  it('ms under a second, s from a second up', () => {
    expect(timeUnit(983)).toEqual({ unit: 'ms', scale: 1 });
    expect(timeUnit(2330)).toEqual({ unit: 's', scale: 1000 });
  });
});

describe('frameHtml', () => {
  it('headers with units and formatted sizes in the table of a results file', () => {
    const html = frameHtml(resultsFrame(readResults(`${BENCH_RESULTS}/paging.json`)));
    expect(html).toContain('<th>budget (GB)</th>');
    expect(html).toContain('<td class="num">80</td>');
    expect(html).toContain('<th>wall (ms)</th>');
    expect(html).not.toMatch(/\d{1,3}(,\d{3}){3,}/); // no byte counts in full
  });

  it('splits a wide table into tables that each repeat the first column, every column shown once', () => {
    const r = readResults(`${BENCH_RESULTS}/paging.json`);
    const html = frameHtml(resultsFrame(r), { width: 80 });
    const tables = html.split('<table').slice(1);
    expect(tables.length).toBeGreaterThan(1);
    const columns = Object.keys(r.rows[0]!).length;
    const headers = tables.map((t) => [...t.matchAll(/<th>([^<]*)<\/th>/g)].map((m) => m[1]));
    for (const h of headers) expect(h[0]).toBe('policy');
    expect(headers.reduce((n, h) => n + h.length - 1, 1)).toBe(columns);
    expect(tables[0]).toContain(`<caption>columns 1–${headers[0]!.length} of ${columns}</caption>`);
    expect(tables[1]).toContain(`<caption>columns ${headers[0]!.length + 1}–`);
    for (const t of tables) expect(t.match(/<tr>/g)).toHaveLength(r.rows.length + 1);
  });

  it('a part that goes on with one column says "column N of N", not "columns N–N"', () => {
    const row = { placement: 'stream', effective_bandwidth_gbps: 1.5, decode_bandwidth_gbps: 1.5, latency_ms: 2.5 };
    const html = frameHtml(rowsFrame([row]), { width: 35 }); // headers wrap: each column is its longest word wide
    const captions = [...html.matchAll(/<caption>([^<]*)<\/caption>/g)].map((m) => m[1]);
    expect(captions).toEqual(['columns 1–3 of 4', 'column 4 of 4']);
  });

  it('a narrow table stays one table without a range caption', () => {
    const html = frameHtml(rowsFrame([{ placement: 'stream', per_token_ms: 1.5 }]));
    expect(html.match(/<table/g)).toHaveLength(1);
    expect(html).toContain('<th>placement</th><th>per token (ms)</th>');
    expect(html).not.toContain('<caption>');
  });
});

describe('CSV and counts', () => {
  it('writes numbers at 6 significant digits, integers in full', () => {
    expect(csvNumber(1.7514970000000045)).toBe('1.7515');
    expect(csvNumber(15.845674000000031)).toBe('15.8457');
    expect(csvNumber(0.000822304123)).toBe('0.000822304');
    expect(csvNumber(25275990016)).toBe('25275990016');
    expect(rowsToCsv([{ per_token_ms: 28.85650099999998, bytes: 5545984 }])).toBe('per_token_ms,bytes\n28.8565,5545984\n');
  });

  it('says 1 row, 2 rows', () => {
    expect(counted(1, 'row')).toBe('1 row');
    expect(counted(2, 'row')).toBe('2 rows');
    expect(counted(1200, 'results file')).toBe('1,200 results files');
  });
});

describe('GB columns', () => {
  it('are size columns too: a peak of 0.000822 GB is written in MB', () => {
    const f = columnFormat('peak_vram_gb', [0.000822304, 0.001232]);
    expect(f.title).toBe('peak VRAM (MB)');
    expect([0.000822304, 0.001232].map(f.format)).toEqual(['0.822', '1.232']);
    expect(columnFormat('peak_vram_gb', [35.5, 12]).title).toBe('peak VRAM (GB)');
  });
});
