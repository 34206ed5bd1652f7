// bench/*.ts on the CPU with tiny settings: the same commands bench/device/run.sh runs on the GPU
// (same flags), writing results files that read back with their measure's row schema.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readResults } from '../../lab/result-files.js';
import { tempDir } from '../helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function bench(name: string, ...args: string[]) {
  const out = join(dir, `${name}.json`);
  const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'bench', `${name}.js`), '--device', 'cpu', ...args, '--out', out], { encoding: 'utf8', cwd: ROOT });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return { results: readResults(out), stdout: r.stdout };
}

describe('bench/ on the CPU', () => {
  it('streaming: a row per placement, the probe, the reference and the timelines', () => {
    const { results, stdout } = bench('streaming', '--model', 'synthetic:tiny', '--budget', '1.5MB', '--ring', '800KiB', '--prefetch', '2', '--prefill', '16', '--decode', '3', '--placements', 'stream,stream-sync', '--probe', '4MiB');
    expect(results.rows.map((r) => [r['placement'], r['new_tokens'], r['status'], r['logit_match']])).toEqual([
      ['stream', 4, 'ok', true],
      ['stream-sync', 4, 'ok', true],
    ]);
    expect(results.pinned_h2d_gbps).toBeGreaterThan(0);
    expect(Object.keys(results.timelines ?? {})).toEqual(['stream', 'stream-sync']);
    expect(typeof results.rows[0]!['load_s']).toBe('number');
    expect(stdout).toMatch(/^placement +effective bandwidth GB\/s +x pinned +x HF acc +decode bandwidth GB\/s +latency ms +peak vram GB +logit rel err$/m);
  });

  it('decode: generate and kv-cache rows with per-token and 512-token prefill times', () => {
    const { results } = bench('decode', '--model', 'synthetic:tiny', '--reps', '1');
    expect(results.rows.map((r) => r['baseline'])).toEqual(['generate', 'kv-cache']);
    for (const r of results.rows) {
      expect(r['per_token_ms']).toBeGreaterThan(0);
      expect(r['prefill_ms']).toBeGreaterThan(0);
    }
    expect(results).toMatchObject({ prompt_tokens: 72, new_tokens: 50, prefill_tokens: 512, hbm_floor_ms: null });
  });

  it('breakpoints: medians per baseline and depth, the pause overhead on the resume rows, the worst depth in the evidence', () => {
    const { results } = bench('breakpoints', '--model', 'synthetic:tiny', '--prompt', '16', '--layers', '0,3', '--reps', '2', '--warmup', '0');
    expect(results.rows.map((r) => `${r['baseline']} ${r['layer']} ${r['runs']}`)).toEqual(['resume 0 2', 'recompute 0 2', 'offload 0 2', 'resume 3 2', 'recompute 3 2', 'offload 3 2']);
    const resume = results.rows.filter((r) => r['baseline'] === 'resume');
    for (const r of resume) for (const f of ['pause_overhead_ms', 'pause_overhead_iqr_ms', 'pause_overhead_wall_ms', 'pause_gap_ms', 'pause_gap_read_ms']) expect(typeof r[f]).toBe('number');
    expect(results.pause_overhead_ms).toBe(Math.max(...resume.map((r) => r['pause_overhead_ms'] as number)));
    expect(results['pause_overhead_limit_ms']).toBe(0.5);
    expect(results.check).toMatchObject({ pass: true });
  });

  it('repl: the prompt back after run, step and abort lines, beside the whole forward', () => {
    const { results, stdout } = bench('repl', '--repeats', '2');
    expect(results.rows.map((r) => `${r['line']} ${r['runs']}`)).toEqual(['forward 2', 'run 2', 'step 6', 'abort 2']);
    for (const r of results.rows) for (const f of ['median_ms', 'p90_ms', 'min_ms', 'max_ms']) expect(r[f]).toBeGreaterThan(0);
    expect(results).toMatchObject({ model: 'test/fixtures/tiny-llama-gqa', tokens: 24, repeats: 2, prompt_back_limit_ms: 10 });
    expect(results['prompt_back_median_ms']).toBe(results.rows[2]!['median_ms']);
    expect(stdout).toMatch(/^line +runs +median ms +p90 ms +min ms +max ms$/m);
  });
});

describe('bench/ flags', () => {
  const run = (name: string, ...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'dist', 'bench', `${name}.js`), ...args], { encoding: 'utf8', cwd: ROOT });

  it('--help lists every flag with its default, and runs nothing', () => {
    const r = run('agents', '--help');
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/^usage: node .*agents\.js \[options\]$/m);
    expect(r.stdout).toContain('  --agents VALUE (default 1,2,4,8,16,32,64,128)\n');
    expect(r.stdout).toContain('  --out VALUE\n');
  });

  it.each([
    [['--agnets', '3'], "agents.js: Unknown option '--agnets'; options: --device, --model, --budget, --agents, "],
    [['--device', 'cpu', '--model'], "agents.js: Option '--model <value>' argument missing; options: --device, "],
    [['--device', 'cpu', '--model', 'synthetic:tiny', '--agents', '2,x'], 'agents.js: experiment agents, agents: agents must be a whole number, got NaN\n'],
    [['--device', 'cpu', '--model', 'synthetic:tiny', '--act-ms', '0'], 'agents.js: experiment agents, act: act must be longer than 0 ms, got 0\n'],
    [['--device', 'cpu', '--model', 'synthetic:tiny', '--budget', '5XB'], 'agents.js: size "5XB" is not a size: write a number with a unit, e.g. 512MB or 24GiB\n'],
  ])('%j: one line on stderr, status 1, nothing on stdout', (args, line) => {
    const r = run('agents', ...args);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.startsWith(line)).toBe(true);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});
