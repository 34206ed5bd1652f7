// vramlab check, plan and run: exit statuses, diagnostics on stderr, and end-to-end runs of the
// experiments/ files' CPU variants with their result files checked.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileSource } from '../../dsl/index.js';
import { readRowLog, writeResultsJson } from '../../lab/result-files.js';
import { tempDir } from '../helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'dist', 'cli', 'vramlab.js');
const temps: string[] = [];
afterAll(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

function temp(): string {
  const d = tempDir();
  temps.push(d);
  return d;
}

function vramlab(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: ROOT });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

type Result = { benchmark: string; experiment: string; device: string; commit: string; date: string; check: { pass: boolean } | null; stopped: string | null; rows: Record<string, unknown>[] };

function results(dir: string, name: string): { json: Result; csv: string[] } {
  return { json: JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as Result, csv: readFileSync(join(dir, `${name}.csv`), 'utf8').trimEnd().split('\n') };
}

describe('vramlab check', () => {
  it('passes every experiments/ file (exit 0)', () => {
    const files = ['bandwidth', 'breakpoints', 'decode', 'steering', 'streaming'].map((f) => `experiments/${f}.vlab`);
    const r = vramlab('check', ...files);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(files.map((f) => `${f}: ok\n`).join(''));
  });

  it('prints FILE:LINE:COL diagnostics with hints and exits 1', () => {
    const dir = temp();
    const bad = join(dir, 'bad.vlab');
    writeFileSync(bad, 'experiment a {\n  measure = decode\n  model = synthetic(tiny)\n  budget = 12\n  repeat = 0\n}\n');
    const r = vramlab('check', bad, 'experiments/decode.vlab');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `${bad}:4:12: error: budget needs a unit: 12 what?\n  hint: write a size with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB, e.g. budget = 4 GB\n${bad}:5:12: error: repeat must be from 1 to 10000, got 0\n`,
    );
    expect(r.stdout).toBe('experiments/decode.vlab: ok\n');
  });

  it('says which file is missing, in one line', () => {
    const r = vramlab('check', 'nowhere.vlab');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('nowhere.vlab: no such file\n');
  });
});

describe('vramlab plan', () => {
  it('prints the compiled plan as JSON', () => {
    const r = vramlab('plan', 'experiments/decode.vlab', '--device', 'cpu');
    expect(r.status).toBe(0);
    const text = readFileSync(join(ROOT, 'experiments', 'decode.vlab'), 'utf8');
    expect(JSON.parse(r.stdout)).toEqual(compileSource(text, { file: 'experiments/decode.vlab', device: 'cpu' }));
  });

  it('rejects a bad --device in one line', () => {
    const r = vramlab('plan', 'experiments/decode.vlab', '--device', 'gpu');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('vramlab: --device: "gpu" is not cpu or cuda:N (see vramlab --help)\n');
  });
});

describe('vramlab run (CPU variants)', () => {
  it('bandwidth: pinned and pageable rows for each size', () => {
    const out = temp();
    const r = vramlab('run', 'experiments/bandwidth.vlab', '--device', 'cpu', '--out', out);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`bandwidth: 8 rows (8 ok) -> ${join(out, 'bandwidth.json')}, ${join(out, 'bandwidth.csv')}\n`);
    const { json, csv } = results(out, 'bandwidth');
    expect(json.benchmark).toBe('copy_bandwidth');
    expect(json.device).toMatch(/^cpu/);
    expect(json.rows.map((row) => `${row['baseline']} ${row['bytes']}`)).toEqual(['pinned 1048576', 'pinned 1048576', 'pageable 1048576', 'pageable 1048576', 'pinned 4194304', 'pinned 4194304', 'pageable 4194304', 'pageable 4194304']);
    for (const row of json.rows) expect(row['bandwidth_gbps']).toBeGreaterThan(0);
    expect(csv[0]).toBe('baseline,bytes,copies,run_id,bandwidth_gbps,status');
    expect(csv).toHaveLength(9);
  });

  it('streaming: resident runs out of memory under the budget, the streamed placements match the resident logits', () => {
    const out = temp();
    const r = vramlab('run', 'experiments/streaming.vlab', '--device', 'cpu', '--out', out);
    expect(r.status).toBe(0);
    const { json, csv } = results(out, 'streaming');
    expect(json.benchmark).toBe('streaming');
    expect(json.check?.pass).toBe(true);
    const byPlacement = (p: string) => json.rows.filter((row) => row['placement'] === p);
    expect(byPlacement('resident').map((row) => row['status'])).toEqual(['out_of_memory', 'out_of_memory']);
    for (const p of ['stream', 'stream-sync', 'accelerate', 'auto']) {
      const rows = byPlacement(p);
      expect(rows.map((row) => row['ring_bytes'])).toEqual([409600, 409600, 819200, 819200]);
      for (const row of rows) {
        expect(row['status']).toBe('ok');
        expect(row['logit_match']).toBe(true);
        expect(row['bytes_streamed']).toBeGreaterThan(0);
        expect(row['peak_vram_gb']).toBeLessThanOrEqual(0.0015);
      }
    }
    expect(csv).toHaveLength(1 + json.rows.length);
  });

  it('decode: kv-cache and stateless agree token for token; sessions sweep', () => {
    const out = temp();
    const r = vramlab('run', 'experiments/decode.vlab', '--device', 'cpu', '--out', out);
    expect(r.status).toBe(0);
    const d = results(out, 'decode').json;
    expect(d.rows.map((row) => `${row['baseline']} ${row['token_match']} ${row['tokens_generated']}`)).toEqual(['kv-cache true 8', 'kv-cache true 8', 'stateless true 8', 'stateless true 8']);
    expect(d.check?.pass).toBe(true);
    const s = results(out, 'decode_sessions').json;
    expect(s.rows.map((row) => `${row['sessions']} ${row['tokens_generated']} ${row['status']}`)).toEqual(['1 6 ok', '2 12 ok', '4 24 ok']);
  });

  it('breakpoints: the three baselines at each layer; offload moves bytes, resume does not', () => {
    const out = temp();
    const r = vramlab('run', 'experiments/breakpoints.vlab', '--device', 'cpu', '--out', out);
    expect(r.status).toBe(0);
    const { json } = results(out, 'breakpoints');
    expect(json.rows.map((row) => `${row['baseline']} ${row['layer']}`)).toEqual(
      [0, 1, 3].flatMap((l) => ['resume', 'resume', 'recompute', 'recompute', 'offload', 'offload'].map((b) => `${b} ${l}`)),
    );
    for (const row of json.rows) {
      expect(row['status']).toBe('ok');
      expect(row['token_match']).toBe(true);
      expect(row['edit']).toBe('scale 0.9');
      expect(row['bytes_moved'] === 0).toBe(row['baseline'] !== 'offload');
    }
    expect(json.check?.pass).toBe(true);
  });

  it('steering: a text prompt through the tokenizer; scale 0.9 changes the logits a little, 0.5 more', () => {
    const out = temp();
    const r = vramlab('run', 'experiments/steering.vlab', '--device', 'cpu', '--out', out);
    expect(r.status).toBe(0);
    const { json } = results(out, 'steering');
    expect(json.rows.map((row) => row['prompt_tokens'])).toEqual(Array(8).fill(7)); // <s> The cat sat on the mat
    const change = (s: number) => json.rows.find((row) => row['scale'] === s)?.['output_change'] as number;
    expect(change(0.9)).toBeGreaterThan(0);
    expect(change(0.5)).toBeGreaterThan(change(0.9));
    expect(json.check?.pass).toBe(true);
  });

  it('reports diagnostics instead of running a file that does not check', () => {
    const dir = temp();
    const bad = join(dir, 'bad.vlab');
    writeFileSync(bad, 'experiment a {\n  measure = decode\n}\n');
    const r = vramlab('run', bad, '--out', dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`${bad}:1:12: error: experiment a (measure decode) has no model\n  hint: add model = synthetic(llama-7b) or model = "path/to/model-dir"\n`);
    expect(existsSync(join(dir, 'a.json'))).toBe(false);
  });

  const LONG = 'experiment long {\n  measure = decode\n  model = synthetic(tiny)\n  prompt = 16 tokens\n  new_tokens = 4\n  repeat = 10000\n}\n';

  /** Starts a long run in the background; `ready` resolves once its first row is on disk (the partial file). */
  function longRun(dir: string) {
    const file = join(dir, 'long.vlab');
    writeFileSync(file, LONG);
    const child = spawn(process.execPath, [CLI, 'run', file, '--device', 'cpu', '--out', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code, signal) => r(code ?? (signal ? -1 : null))));
    const partial = join(dir, 'long.partial.jsonl');
    const ready = (async () => {
      for (let i = 0; i < 1200; i++) {
        if (existsSync(partial) && readFileSync(partial, 'utf8').includes('\n')) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`no row after 60 s: ${stderr}`);
    })();
    return { child, exited, ready, partial, stderr: () => stderr };
  }

  for (const [signal, status, what] of [['SIGINT', 130, 'Ctrl-C'], ['SIGTERM', 143, 'SIGTERM']] as const)
    it(`${what} stops the run after the step in progress and keeps every finished row (exit ${status})`, async () => {
      const dir = temp();
      const run = longRun(dir);
      await run.ready; // a row is measured: the run is under way
      run.child.kill(signal);
      expect(await run.exited).toBe(status);
      expect(run.stderr()).toContain('stopping after the step in progress');
      const { json, csv } = results(dir, 'long');
      expect(json.stopped).toBe('cancelled');
      expect(json.rows.length).toBeGreaterThan(0);
      expect(json.rows.length).toBeLessThan(10_000);
      for (const row of json.rows) expect(row['status']).toBe('ok');
      expect(csv).toHaveLength(json.rows.length + 1);
      expect(existsSync(run.partial)).toBe(false);
    });

  it('a kill (SIGKILL) mid-run leaves the previous result files intact and the finished rows in NAME.partial.jsonl', async () => {
    const dir = temp();
    const previous = '{"benchmark":"decode","device":"cpu","commit":"x","rows":[]}\n';
    writeFileSync(join(dir, 'long.json'), previous);
    writeFileSync(join(dir, 'long.csv'), 'a\n1\n');
    const run = longRun(dir);
    await run.ready;
    run.child.kill('SIGKILL');
    await run.exited;
    expect(readFileSync(join(dir, 'long.json'), 'utf8')).toBe(previous);
    expect(readFileSync(join(dir, 'long.csv'), 'utf8')).toBe('a\n1\n');
    const rows = readRowLog(run.partial);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows[0]).toMatchObject({ baseline: 'kv-cache', run_id: 0, status: 'ok' });
  });

  it('rows are on disk as they are measured, and the partial file is gone once the files are written', () => {
    const out = temp();
    const r = vramlab('run', 'experiments/decode.vlab', '--device', 'cpu', '--out', out);
    expect(r.status).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['decode.csv', 'decode.json', 'decode_sessions.csv', 'decode_sessions.json']);
  });
});

describe('vramlab run --out that cannot be written', () => {
  const cases: [string, (d: string) => string, (d: string, out: string) => string][] = [
    ['a file', (d) => join(d, 'file'), (_d, out) => `vramlab: ${out}: cannot use as the output folder (it is a file)\n`],
    ['a path under a file', (d) => join(d, 'file', 'sub'), (d) => `vramlab: ${join(d, 'file', 'sub')}: cannot use as the output folder (${join(d, 'file')} is a file)\n`],
    ['/proc/self/nope', () => '/proc/self/nope/deeper', () => 'vramlab: /proc/self/nope/deeper: cannot create the output folder (no such file or directory)\n'],
  ];
  for (const [what, outOf, message] of cases)
    it(`is ${what}: one line at once, before any step runs`, () => {
      const dir = temp();
      writeFileSync(join(dir, 'file'), 'not a folder');
      const file = join(dir, 'long.vlab');
      writeFileSync(file, 'experiment long {\n  measure = decode\n  model = synthetic(tiny)\n  prompt = 16 tokens\n  new_tokens = 4\n  repeat = 10000\n}\n');
      const out = outOf(dir);
      const t0 = Date.now();
      const r = spawnSync(process.execPath, [CLI, 'run', file, '--device', 'cpu', '--out', out], { encoding: 'utf8', cwd: ROOT, timeout: 20_000 });
      expect(r.stderr).toBe(message(dir, out));
      expect(r.status).toBe(1);
      expect(Date.now() - t0).toBeLessThan(10_000); // 10000 repeats would take minutes
      expect(readFileSync(join(dir, 'file'), 'utf8')).toBe('not a folder');
    });
});

describe('result files written atomically', () => {
  it('a write that fails leaves the previous file whole and no temporary file', () => {
    const dir = temp();
    const path = join(dir, 'r.json');
    writeFileSync(path, '{"old": true}\n');
    mkdirSync(`${path}.${process.pid}.tmp`); // the temporary name cannot be written: the write fails
    expect(() => writeResultsJson(path, { rows: [] })).toThrow(/r\.json: cannot write/);
    expect(readFileSync(path, 'utf8')).toBe('{"old": true}\n');
    rmSync(`${path}.${process.pid}.tmp`, { recursive: true });
    writeResultsJson(path, { rows: [1] });
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ rows: [1] });
    expect(readdirSync(dir)).toEqual(['r.json']);
  });

  it('a torn last line of a partial file is left out', () => {
    const dir = temp();
    const path = join(dir, 'x.partial.jsonl');
    writeFileSync(path, '{"a":1}\n{"a":2}\n{"a":');
    expect(readRowLog(path)).toEqual([{ a: 1 }, { a: 2 }]);
  });
});
