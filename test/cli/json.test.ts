// --json on every command that prints results (check, plan, run, info, demo, logits, generate): one
// JSON document on stdout with the fields each command's --help documents; exit statuses unchanged.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileSource, readVlabFile } from '../../dsl/index.js';
import { GQA, reference, Temps } from '../helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'cli', 'vramlab.js');
const temps = new Temps();
afterAll(() => temps.removeAll());

function vramlab(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: ROOT });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function parsed(r: ReturnType<typeof vramlab>): Record<string, unknown> {
  expect(r.stdout.trimEnd().split('\n')).toHaveLength(1); // one document, one line
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('--json on every command', () => {
  it('check: {"files": [{file, ok, error, diagnostics}]}, nothing on stderr, exit 1 when any is not clean', () => {
    const bad = join(temps.make(), 'bad.vlab');
    writeFileSync(bad, 'experiment a {\n  measure = decode\n  model = synthetic(tiny)\n  budget = 12\n}\n');
    const r = vramlab('check', 'experiments/decode.vlab', bad, 'nowhere.vlab', '--json');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('');
    const files = parsed(r)['files'] as { file: string; ok: boolean; error: string | null; diagnostics: Record<string, unknown>[] }[];
    expect(files.map((f) => [f.file, f.ok, f.error])).toEqual([
      ['experiments/decode.vlab', true, null],
      [bad, false, null],
      ['nowhere.vlab', false, 'nowhere.vlab: no such file'],
    ]);
    expect(files[1]?.diagnostics).toEqual([
      { file: bad, line: 4, column: 12, offset: 71, length: 2, severity: 'error', code: 'unit', message: 'budget needs a unit: 12 what?', hint: 'write a size with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB, e.g. budget = 4 GB' },
    ]);
    const clean = vramlab('check', 'experiments/decode.vlab', '--json');
    expect(clean.status).toBe(0);
    expect(parsed(clean)).toEqual({ files: [{ file: 'experiments/decode.vlab', ok: true, error: null, diagnostics: [] }] });
  });

  it('plan: the compiled plan, where without --json it is a summary', () => {
    const r = vramlab('plan', 'experiments/decode.vlab', '--device', 'cpu', '--json');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(JSON.stringify(compileSource(readVlabFile(join(ROOT, 'experiments/decode.vlab')), { file: 'experiments/decode.vlab', device: 'cpu' }))));
    expect(vramlab('plan', 'experiments/decode.vlab', '--device', 'cpu').stdout).toMatch(/^experiments\/decode\.vlab on cpu: 2 experiments, 5 steps, 12 runs\n/);
  });

  it('run: {"experiments": [{experiment, rows, ok_rows, check, stopped, json, csv}]} instead of the summary lines', () => {
    const out = temps.make();
    const r = vramlab('run', 'experiments/bandwidth.vlab', '--device', 'cpu', '--out', out, '--json');
    expect(r.status).toBe(0);
    expect(parsed(r)).toEqual({ experiments: [{ experiment: 'bandwidth', rows: 8, ok_rows: 8, check: null, stopped: null, json: join(out, 'bandwidth.json'), csv: join(out, 'bandwidth.csv') }] });
  });

  it('info: one JSON object', () => {
    const r = vramlab('info', GQA, '--json');
    expect(r.status).toBe(0);
    expect(typeof parsed(r)).toBe('object');
  });

  it('demo: {device, model, load_ms, prefill, decode, kv, vram, tokens}', () => {
    const r = vramlab('demo', '--json');
    expect(r.status).toBe(0);
    const out = parsed(r);
    expect(Object.keys(out)).toEqual(['device', 'model', 'load_ms', 'prefill', 'decode', 'kv', 'vram', 'tokens']);
    expect(out['model']).toBe('tiny-llama-gqa');
    expect(Object.keys(out['prefill'] as object)).toEqual(['tokens', 'ms', 'tokens_per_s']);
    expect((out['prefill'] as { tokens: number }).tokens).toBe(24);
    expect((out['decode'] as { tokens: number }).tokens).toBe(31);
    expect(Object.keys(out['kv'] as object)).toEqual(['blocks', 'block_tokens', 'tokens', 'pool_blocks', 'pool_bytes']);
    expect(Object.keys(out['vram'] as object)).toEqual(['current_bytes', 'peak_bytes', 'budget_bytes']);
    expect((out['tokens'] as number[]).slice(0, 24)).toEqual(reference(GQA).greedy);
  });

  it('logits and generate: {"logits"}; {"tokens", "text", "timings"}', () => {
    expect(Object.keys(parsed(vramlab('logits', GQA, '--ids', '1,2', '--json')))).toEqual(['logits']);
    expect(Object.keys(parsed(vramlab('generate', GQA, '--ids', '1,2', '--max-new-tokens', '2', '--json')))).toEqual(['tokens', 'text', 'timings']);
  });
});
