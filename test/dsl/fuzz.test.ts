// Fuzzing the language front end: random bytes, and random mutations of the real experiments/ files.
// Whatever the input: no exception, no hang (each input in well under a second), and a file that is
// not valid gets at least one diagnostic with a position inside the text.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource, compileSource, DiagnosticsError } from '../../dsl/index.js';

const EXPERIMENTS = join(import.meta.dirname, '..', '..', 'experiments');
const sources = readdirSync(EXPERIMENTS)
  .filter((f) => f.endsWith('.vlab'))
  .map((f) => readFileSync(join(EXPERIMENTS, f), 'utf8'));

/** A seeded generator, so a failure is reproducible (the seed is in the test name). */
function rng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * n;
  };
}

const PIECES = ['{', '}', '[', ']', '(', ')', '=', ',', ';', '..', '"', '/*', '#', '\n', ' GB', ' tokens', 'sweep', 'on', 'experiment', '-1', '1e999', 'cuda:9', '\u0000', '\uffff', 'é'];

function mutate(text: string, r: (n: number) => number): string {
  let s = text;
  const edits = 1 + Math.floor(r(6));
  for (let k = 0; k < edits; k++) {
    const at = Math.floor(r(s.length + 1));
    const kind = Math.floor(r(4));
    if (kind === 0) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(r(8))); // delete
    else if (kind === 1) s = s.slice(0, at) + PIECES[Math.floor(r(PIECES.length))] + s.slice(at); // insert
    else if (kind === 2) s = s.slice(0, at) + String.fromCharCode(Math.floor(r(128))) + s.slice(at + 1); // replace
    else {
      const from = Math.floor(r(s.length));
      s = s.slice(0, at) + s.slice(from, from + Math.floor(r(40))) + s.slice(at); // duplicate a span
    }
  }
  return s;
}

/** Checks and compiles `text`: only diagnostics may come out, in bounded time. */
function survive(text: string): void {
  const ds = checkSource(text, { file: 'f.vlab', baseDir: EXPERIMENTS });
  for (const d of ds) {
    expect(d.line).toBeGreaterThanOrEqual(1);
    expect(d.column).toBeGreaterThanOrEqual(1);
    expect(d.offset).toBeLessThanOrEqual(text.length);
    expect(d.message.length).toBeGreaterThan(0);
  }
  try {
    compileSource(text, { file: 'f.vlab', baseDir: EXPERIMENTS, device: 'cpu' });
  } catch (e) {
    expect(e).toBeInstanceOf(DiagnosticsError);
    expect((e as DiagnosticsError).diagnostics.length).toBeGreaterThan(0);
  }
}

describe('fuzz', () => {
  it.each([1, 2, 3, 4])('random bytes (seed %i)', (seed) => {
    const r = rng(seed);
    for (let i = 0; i < 100; i++) {
      const bytes = Buffer.from(Array.from({ length: Math.floor(r(400)) }, () => Math.floor(r(256))));
      const text = bytes.toString('utf8');
      survive(text);
      if (!/experiment/.test(text)) expect(() => compileSource(text, { file: 'f.vlab', baseDir: EXPERIMENTS })).toThrow(DiagnosticsError);
    }
  });

  it.each([11, 12, 13, 14, 15, 16])('mutations of the experiments/ files (seed %i)', (seed) => {
    const r = rng(seed);
    for (let i = 0; i < 200; i++) survive(mutate(sources[Math.floor(r(sources.length))] as string, r));
  });

  it('huge, deep and unterminated inputs', () => {
    // 600 KB of settings (50 000 duplicates, each reported) in time linear in the size: ten times the
    // lines take less than 40 times as long (a quadratic checker takes 100 times; the best of three
    // runs each, so that a busy machine does not decide).
    const duplicates = (n: number) => 'experiment a {\n' + '  repeat = 1\n'.repeat(n) + '}';
    const best = (text: string) =>
      Math.min(
        ...[0, 1, 2].map(() => {
          const t0 = performance.now();
          survive(text);
          return performance.now() - t0;
        }),
      );
    expect(best(duplicates(50_000)) / best(duplicates(5_000))).toBeLessThan(40);
    survive('['.repeat(100_000));
    survive('experiment a { prompt = ' + '('.repeat(10_000));
    survive('experiment a { prompt = "' + 'x'.repeat(100_000));
    survive('/*' + 'experiment a {}'.repeat(10_000));
    survive('x'.repeat(2 ** 20 + 10));
    survive('experiment a { sweep layer in 0..1e9 }');
  });
});
