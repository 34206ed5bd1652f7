// vramlab report: writes the HTML report; bad input is one line naming the file, status 1.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BENCH_RESULTS } from '../results-fixtures.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'vramlab.js');
const dir = mkdtempSync(join(tmpdir(), 'vramlab-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function vramlab(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectUserError(r: ReturnType<typeof vramlab>, message: string): void {
  expect(r.stderr).toBe(`vramlab: ${message}\n`);
  expect(r.status).toBe(1);
  expect(r.stdout).toBe('');
}

describe('vramlab report', () => {
  it('writes a report of the results files given', () => {
    const out = join(dir, 'report.html');
    const r = vramlab('report', join(BENCH_RESULTS, 'decode.json'), join(BENCH_RESULTS, 'correctness.json'), '--out', out);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`wrote ${out}: 2 results files\n`);
    const html = readFileSync(out, 'utf8');
    expect(html).toContain('1 figure.');
    expect(html.match(/<section/g)).toHaveLength(2);
  });

  it('is listed in vramlab --help', () => {
    expect(vramlab('--help').stdout).toContain('report RESULTS.json... --out report.html');
  });

  it('rejects a missing file, a non-results file and bad arguments with one line', () => {
    const out = join(dir, 'x.html');
    expectUserError(vramlab('report', join(dir, 'nope.json'), '--out', out), `${join(dir, 'nope.json')}: no such file`);
    const hf = join(BENCH_RESULTS, 'logs', 'hf-decode-h200.json');
    expectUserError(vramlab('report', hf, '--out', out), `${hf}: not a vramlab results file: "benchmark" is missing (expected the JSON that bench/*.ts or an experiment run writes)`);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"benchmark": "streaming", "device": "d", "commit": "c", "rows": [{"placement": 3}]}');
    expectUserError(vramlab('report', bad, '--out', out), `${bad}: rows[0] of a streaming result needs "placement" (a string)`);
    expectUserError(vramlab('report', '--out', out), 'no results files given (usage: vramlab report RESULTS.json... --out report.html [--title TEXT])');
    expectUserError(vramlab('report', join(BENCH_RESULTS, 'decode.json')), '--out is required (usage: vramlab report RESULTS.json... --out report.html [--title TEXT])');
    expectUserError(vramlab('report', join(BENCH_RESULTS, 'decode.json'), '--out', join(dir, 'no', 'such', 'dir.html')), `${join(dir, 'no', 'such', 'dir.html')}: cannot write the report (no such file or directory)`);
  });
});
