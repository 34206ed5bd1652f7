// Reading results files: the shapes bench/*.ts writes pass; anything else is one line naming the file.
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkResults, readResults } from '../../lab/index.js';
import { VramlabError } from '../../runtime/index.js';
import { BENCH_RESULTS } from '../results-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'vramlab-results-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function expectError(f: () => unknown, code: string, message: string): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(VramlabError);
    expect((e as VramlabError).code).toBe(code);
    expect((e as VramlabError).message).toBe(message);
    expect((e as VramlabError).message).not.toContain('\n');
    return;
  }
  throw new Error('no error thrown');
}

describe('readResults', () => {
  it.each(readdirSync(BENCH_RESULTS).filter((f) => f.endsWith('.json')))('reads bench/results/%s', (name) => {
    const r = readResults(join(BENCH_RESULTS, name));
    expect(r.rows.length).toBeGreaterThan(0);
    expect(typeof r.device).toBe('string');
  });

  it('names the file when it is missing, a directory, or unreadable', () => {
    expectError(() => readResults(join(dir, 'nope.json')), 'VL_ERR_IO', `${join(dir, 'nope.json')}: no such file`);
    expectError(() => readResults(dir), 'VL_ERR_IO', `${dir}: is a directory, not a results file`);
    if (process.getuid?.() !== 0) {
      const locked = file('locked.json', '{}');
      chmodSync(locked, 0);
      expectError(() => readResults(locked), 'VL_ERR_IO', `${locked}: cannot read (permission denied)`);
    }
  });

  it('says when a file is not JSON, on one line', () => {
    const path = file('notes.json', '# notes\nnot json\n');
    expect(() => readResults(path)).toThrow(new RegExp(`^${path}: not JSON \\(`));
  });

  it('says which field makes a file not a results file', () => {
    const hf = join(BENCH_RESULTS, 'logs', 'hf-decode-h200.json'); // the HF half of the decode benchmark: no "benchmark"
    expectError(() => readResults(hf), 'VL_ERR_FORMAT', `${hf}: not a vramlab results file: "benchmark" is missing (expected the JSON that bench/*.ts or an experiment run writes)`);
    const arr = file('array.json', '[1, 2]');
    expect(() => readResults(arr)).toThrow(`${arr}: not a vramlab results file (expected a JSON object`);
    const norows = file('norows.json', '{"benchmark": "decode", "device": "d", "commit": "c", "rows": {}}');
    expectError(() => readResults(norows), 'VL_ERR_FORMAT', `${norows}: not a vramlab results file: "rows" is not an array`);
  });
});

describe('checkResults', () => {
  const base = { device: 'd', commit: 'c' };
  it('checks the fields that name what each row of a known benchmark ran', () => {
    expect(() => checkResults({ ...base, benchmark: 'streaming', rows: [{ placement: 'stream' }, { effective_bandwidth_gbps: 5 }] }, 's.json')).toThrow(
      's.json: rows[1] of a streaming result needs "placement" (a string)',
    );
    expect(() => checkResults({ ...base, benchmark: 'decode', rows: [{ per_token_ms: 5 }] }, 'd.json')).toThrow('d.json: rows[0] of a decode result needs "baseline" (a string)');
    expect(() => checkResults({ ...base, benchmark: 'breakpoints', rows: [{ baseline: 'resume', layer: 1, resume_ms: 2 }, 7] }, 'b.json')).toThrow('b.json: rows[1] is not an object');
    expect(() => checkResults({ ...base, benchmark: 'breakpoints', rows: [{ baseline: 'resume', layer: '1' }] }, 'b.json')).toThrow('b.json: rows[0] of a breakpoints result needs "layer" (a number)');
  });

  it('checks the types of the evidence fields, and the timelines', () => {
    expect(() => checkResults({ ...base, benchmark: 'streaming', pinned_h2d_gbps: '55', rows: [] }, 's.json')).toThrow('s.json: "pinned_h2d_gbps" must be a number or null');
    expect(() => checkResults({ ...base, benchmark: 'x', check: true, rows: [] }, 'x.json')).toThrow('x.json: "check" must be an object or null');
    expect(() => checkResults({ ...base, benchmark: 'streaming', timelines: { stream: { prefill: [{ layer: 0 }] } }, rows: [] }, 's.json')).toThrow(
      's.json: timelines.stream.prefill is not a list of {layer, copyStartMs, copyEndMs, computeStartMs, computeEndMs}',
    );
    const ok = checkResults({ ...base, benchmark: 'streaming', budget_bytes: null, timelines: { stream: { prefill: [{ layer: 0, copyStartMs: null, copyEndMs: null, computeStartMs: 0, computeEndMs: 1 }] } }, rows: [] }, 's.json');
    expect(ok.timelines?.['stream']?.['prefill']).toHaveLength(1);
  });

  it('accepts rows of runs that failed: the measured values null, the status saying why', () => {
    const r = checkResults({ ...base, benchmark: 'streaming', budget_bytes: null, rows: [{ placement: 'resident', effective_bandwidth_gbps: null, status: 'out_of_memory' }] }, 's.json');
    expect(r.rows).toHaveLength(1);
  });

  it('lets other benchmarks through with the common fields (a table, no figures)', () => {
    const r = checkResults({ ...base, benchmark: 'something-new', rows: [{ a: 1 }] }, 'n.json');
    expect(r.rows).toEqual([{ a: 1 }]);
  });
});
