// The backend parity test: native/build/test-backend-ops runs every op of backend.h on every available
// backend against the CPU reference. "cpu" runs the harness against itself (every case must give
// exactly the reference, and the CPU backend's asynchronous copy stream must honour events); "cuda:0"
// is compared when a GPU is present and otherwise reported here as skipped, with the native reason.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '..', '..', 'native', 'build', 'test-backend-ops');
const run = spawnSync(BIN, ['cpu', 'cuda:0'], { encoding: 'utf8', timeout: 300_000 });
const lines = (run.stdout ?? '').split('\n');
const skips = lines.filter((l) => l.startsWith('SKIP '));

describe('test-backend-ops', () => {
  it('is built by npm install', () => {
    expect(existsSync(BIN)).toBe(true);
  });

  it('passes every op on every backend it can open', () => {
    expect(run.error).toBeUndefined();
    const failures = lines.filter((l) => /\bFAIL\b/.test(l));
    expect(failures).toEqual([]);
    for (const op of ['embed', 'rmsnorm', 'matmul', 'rope', 'kv_store', 'attention', 'swiglu', 'scale_add_rows', 'streams'])
      expect(lines.some((l) => l.startsWith(op) && / cpu /.test(l) && /\bPASS\b/.test(l)), op).toBe(true);
    expect(run.status).toBe(0);
  });

  it('compares the CPU backend with itself exactly', () => {
    const cpu = lines.filter((l) => / cpu /.test(l) && /rel_err=/.test(l));
    expect(cpu.length).toBeGreaterThan(50);
    for (const l of cpu) expect(l).toMatch(/rel_err=0\.00e\+00/);
  });

  for (const skip of skips) it.skip(skip.slice(5), () => {});
});

describe('test-backend-ops --perf-prefill', () => {
  it('times each op of a prefill layer and the pass against its FLOP floor (a smoke test on the CPU)', () => {
    const r = spawnSync(BIN, ['--perf-prefill', 'cpu', 'tiny', '16'], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status).toBe(0);
    const out = r.stdout.split('\n');
    expect(out.some((l) => /^perf cpu large GEMM 512x512x512 F16: [\d.]+ ms/.test(l))).toBe(true);
    expect(out.some((l) => /^perf cpu prefill tiny T=16: [\d.]+ ms, floor [\d.]+ ms .* -> [\d.]+x$/.test(l))).toBe(true);
    for (const op of ['rmsnorm', 'qkv GEMM', 'rope_kv_store', 'attention', 'o GEMM \\(\\+= x\\)', '\\[gate; up\\] GEMM', 'swiglu', 'down GEMM \\(\\+= x\\)'])
      expect(out.some((l) => new RegExp(`^perf cpu prefill tiny T=16 +${op} +[\\d.]+ ms`).test(l)), op).toBe(true);
    const bad = spawnSync(BIN, ['--perf-prefill', 'cpu', 'tiny', '16,x'], { encoding: 'utf8' });
    expect([bad.status, bad.stdout]).toEqual([1, '--perf-prefill: token counts are 2..65536, got "x"\n']);
  });
});
