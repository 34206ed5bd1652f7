// vramlab check, plan and run: exit statuses, diagnostics on stderr, and end-to-end runs of the
// experiments/ files' CPU variants with their result files checked.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileSource } from '../../dsl/index.js';
import { writeResultsJson } from '../../lab/result-files.js';
import { readRowLog } from '../../lab/results-folder.js';
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

/** A run of minutes: 10000 repeats of a small decode. */
const LONG = 'experiment long {\n  measure = decode\n  model = synthetic(tiny)\n  prompt = 16 tokens\n  new_tokens = 4\n  repeat = 10000\n}\n';

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
  it('--json prints the compiled plan as JSON', () => {
    const r = vramlab('plan', 'experiments/decode.vlab', '--device', 'cpu', '--json');
    expect(r.status).toBe(0);
    const text = readFileSync(join(ROOT, 'experiments', 'decode.vlab'), 'utf8');
    expect(JSON.parse(r.stdout)).toEqual(compileSource(text, { file: 'experiments/decode.vlab', device: 'cpu' }));
  });

  it('prints a summary by default: steps and runs, sweeps, the settings set, what a load holds', () => {
    const r = vramlab('plan', 'experiments/decode.vlab', '--device', 'cpu');
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('experiments/decode.vlab on cpu: 2 experiments, 5 steps, 12 runs');
    expect(lines).toContain('decode: measure decode, model synthetic:tiny');
    expect(lines).toContain('  steps      2 (baselines kv-cache, stateless): 6 runs (1 warm-up + 2 measured a step)');
    expect(lines).toContain('  sweeps     sessions in [1, 2, 4] (3)');
    expect(lines).toContain('  settings   prompt = 24 tokens, new_tokens = 6, repeat = 1');
    // the native planner's figures: the tiny model's f32 weights and a KV pool of the sessions' tokens
    expect(r.stdout).toMatch(/decode kv-cache sessions=4: 1\.70 MiB \(weights 1\.57 MiB, KV pool 128 tokens 128\.00 KiB\), and a step of up to \d+ tokens [\d.]+ MiB of activations/);
  });

  it('--set replaces a setting and a list sweeps it, in the summary, the JSON and the run', () => {
    const r = vramlab('plan', 'experiments/decode.vlab', '--device', 'cpu', '--json', '--set', 'sessions=[2,3]', '--set', 'new_tokens=3');
    expect(r.status).toBe(0);
    const plan = JSON.parse(r.stdout) as { experiments: { name: string; steps: { sessions: number; newTokens: number }[] }[] };
    for (const e of plan.experiments) {
      expect(e.steps.map((x) => x.sessions)).toEqual(e.name === 'decode' ? [2, 2, 3, 3] : [2, 3]); // the on cpu sweep is replaced too
      for (const x of e.steps) expect(x.newTokens).toBe(3);
    }
    const out = temp();
    const run = vramlab('run', 'experiments/decode.vlab', '--device', 'cpu', '--out', out, '--set', 'sessions=[2]', '--set', 'repeat=1', '--set', 'warmup=0');
    expect(run.status).toBe(0);
    expect(results(out, 'decode_sessions').json.rows.map((row) => row['sessions'])).toEqual([2]);
  });

  it("a bad --set is a diagnostic naming the flag, with the file's own rules", () => {
    const r = vramlab('plan', 'experiments/decode.vlab', '--set', 'budget=24', '--set', 'nope=3', '--set', 'x');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      [
        "--set x: error: expected '=' after 'x', found the end of the value",
        '--set nope=3: error: no experiment of the file takes nope (measure decode)',
        '  hint: settings: measure, device, budget, repeat, warmup, time_limit, metrics, max_points, model, ring, prefetch, kv_pool, kv_block, prompt, seed, tolerance, baselines, placement, new_tokens, sessions',
        '--set budget=24: error: budget needs a unit: 24 what?',
        '  hint: write a size with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB, e.g. budget = 4 GB',
        '',
      ].join('\n'),
    );
    const c = vramlab('check', 'experiments/decode.vlab', '--set', 'sessions=[0]');
    expect(c.status).toBe(1);
    expect(c.stderr).toBe('--set sessions=[0]: error: sessions must be from 1 to 4096, got 0\n');
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
    const lines = r.stdout.trimEnd().split('\n');
    // the table: a line per configuration (the 2 runs of each averaged), the varying parameters, then the metrics
    expect(lines[0]).toMatch(/^baseline {2}size \(MB\) {2}bandwidth \(GB\/s\) {2}runs$/);
    expect(lines.slice(1, 5).map((l) => l.split(/\s+/).slice(0, 2).join(' '))).toEqual(['pinned 1.05', 'pageable 1.05', 'pinned 4.19', 'pageable 4.19']);
    for (const l of lines.slice(1, 5)) expect(l).toMatch(/ {2}[\d.,]+ {2,}2$/);
    expect(lines[5]).toBe(`bandwidth: 8 rows (8 ok) -> ${join(out, 'bandwidth.json')}, ${join(out, 'bandwidth.csv')}`);
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


  /** Starts a long run in the background; `ready` resolves once its first row is on disk (the partial file). */
  function longRun(dir: string) {
    const file = join(dir, 'long.vlab');
    writeFileSync(file, LONG);
    const child = spawn(process.execPath, [CLI, 'run', file, '--device', 'cpu', '--out', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code, signal) => r(code ?? (signal ? -1 : null))));
    const partial = join(dir, `long.${child.pid}.partial.jsonl`); // the run's own row log
    const ready = (async () => {
      for (let i = 0; i < 1200; i++) {
        if (existsSync(partial) && readFileSync(partial, 'utf8').includes('\n')) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`no row after 60 s: ${stderr}`);
    })();
    return { child, exited, ready, partial, stderr: () => stderr };
  }

  for (const [signal, status, what] of [['SIGINT', 130, 'Ctrl-C'], ['SIGTERM', 143, 'SIGTERM'], ['SIGHUP', 129, 'SIGHUP (the terminal closed)']] as const)
    it(`${what} stops the run after the step in progress and keeps every finished row (exit ${status})`, async () => {
      const dir = temp();
      const run = longRun(dir);
      await run.ready; // a row is measured: the run is under way
      if (signal === 'SIGHUP') {
        // as a closed terminal does: the reading ends of stdout and stderr are gone
        run.child.stdout.destroy();
        run.child.stderr.destroy();
      }
      run.child.kill(signal);
      expect(await run.exited).toBe(status);
      if (signal !== 'SIGHUP') expect(run.stderr()).toContain('stopping after the step in progress');
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

describe('vramlab run never loses results', () => {
  const TINY = (extra: string) => `experiment t {\n  measure = decode\n  model = synthetic(tiny)\n  prompt = 8 tokens\n  new_tokens = 2\n  repeat = 1\n  warmup = 0\n${extra}}\n`;

  it('a re-run keeps the earlier pair under the date of that run, and says where', () => {
    const dir = temp();
    const file = join(dir, 't.vlab');
    writeFileSync(file, TINY(''));
    expect(vramlab('run', file, '--device', 'cpu', '--out', dir).status).toBe(0);
    const first = results(dir, 't');
    const second = vramlab('run', file, '--device', 'cpu', '--out', dir);
    expect(second.status).toBe(0);
    const stamp = first.json.date.slice(0, 19).replace(/:/g, '-');
    expect(second.stdout).toContain(`; the earlier results are now ${join(dir, `t.${stamp}.json`)}\n`);
    expect(JSON.parse(readFileSync(join(dir, `t.${stamp}.json`), 'utf8'))).toEqual(first.json);
    expect(readFileSync(join(dir, `t.${stamp}.csv`), 'utf8').trimEnd().split('\n')).toEqual(first.csv);
    expect(results(dir, 't').json.date > first.json.date).toBe(true);
  });

  it('a device the machine lacks is one line at the file\'s device setting, before any row, and nothing is written', () => {
    const dir = temp();
    const file = join(dir, 't.vlab');
    writeFileSync(file, TINY('  device = cuda:99\n  on cpu {\n    repeat = 1\n  }\n'));
    writeFileSync(join(dir, 't.json'), '{"kept": 1}\n');
    const r = vramlab('run', file, '--out', dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^vramlab: ${file}:8:12: device = cuda:99: .+; run it with --device cpu \\(the file's on cpu settings\\)\\n$`));
    expect(readdirSync(dir).sort()).toEqual(['t.json', 't.vlab']);
    const flag = vramlab('run', file, '--device', 'cuda:99', '--out', dir);
    expect(flag.status).toBe(1);
    expect(flag.stderr).toMatch(/^vramlab: --device cuda:99: .+; run it with --device cpu \(the file's on cpu settings\)\n$/);
  });

  it('a run whose every row fails writes no results file and shows why', () => {
    const dir = temp();
    const file = join(dir, 'bad.vlab');
    writeFileSync(file, `experiment bad {\n  measure = decode\n  model = "${join(ROOT, 'test/fixtures/hostile/header-past-end')}"\n  prompt = 4 tokens\n  new_tokens = 2\n  repeat = 1\n  warmup = 0\n}\n`);
    writeFileSync(join(dir, 'bad.json'), '{"earlier": true}\n');
    const r = vramlab('run', file, '--device', 'cpu', '--out', dir);
    expect(r.status).toBe(1);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe('bad: no results written: every row failed (3 of 3)');
    expect(lines[1]).toMatch(/^ {2}3 rows: .*header-past-end.*model\.safetensors/);
    expect(lines[2]).toBe('vramlab: every row failed (3 of 3)');
    expect(readFileSync(join(dir, 'bad.json'), 'utf8')).toBe('{"earlier": true}\n');
    expect(readdirSync(dir).sort()).toEqual(['bad.json', 'bad.vlab']);
  });

  it('a run stopped before its first row writes nothing over the earlier results', async () => {
    const dir = temp();
    const file = join(dir, 'long.vlab');
    writeFileSync(file, LONG.replace('repeat = 10000', 'repeat = 10000\n  warmup = 10000'));
    writeFileSync(join(dir, 'long.json'), '{"earlier": true}\n');
    const child = spawn(process.execPath, [CLI, 'run', file, '--device', 'cpu', '--out', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const log = join(dir, `long.${child.pid}.partial.jsonl`);
    for (let i = 0; i < 600 && !existsSync(log); i++) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGINT'); // in the warm-ups: no row yet
    expect(await exited).toBe(130);
    expect(stderr).toContain('long: no results written: stopped before its first row');
    expect(readdirSync(dir).sort()).toEqual(['long.json', 'long.vlab']);
  });

  it('a later run tidies after a kill: stale temporaries go, a results JSON gets its missing CSV', () => {
    const dir = temp();
    const file = join(dir, 't.vlab');
    writeFileSync(file, TINY(''));
    const gone = 2 ** 22 + 17; // above pid_max's default: no such process
    writeFileSync(join(dir, `t.json.${gone}.tmp`), '{"half');
    writeFileSync(join(dir, `.vramlab-write-test.${gone}`), '');
    writeFileSync(join(dir, 'other.json'), JSON.stringify({ benchmark: 'decode', device: 'cpu', commit: 'x', rows: [{ a: 1, b: 'x' }] }));
    writeFileSync(join(dir, `t.${gone}.partial.jsonl`), '{"a":1}\n{"a":2}\n');
    writeFileSync(join(dir, 'notes.tmp'), 'a file of the user');
    const r = vramlab('run', file, '--device', 'cpu', '--out', dir);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(`vramlab: ${join(dir, `t.${gone}.partial.jsonl`)}: 2 rows of a run that was stopped before it wrote its results (kept)\n`);
    expect(r.stderr).toContain(`vramlab: ${join(dir, 'other.csv')}: written from other.json (a run had stopped between the two)\n`);
    expect(readFileSync(join(dir, 'other.csv'), 'utf8')).toBe('a,b\n1,x\n');
    expect(readdirSync(dir).sort()).toEqual(['notes.tmp', 'other.csv', 'other.json', `t.${gone}.partial.jsonl`, 't.csv', 't.json', 't.vlab']);
  });

  it('a reader of stdout that goes away (run | head -1) stops the run, and its results are still written (exit 141)', () => {
    const dir = temp();
    const r = spawnSync('bash', ['-c', `"${process.execPath}" "${CLI}" run experiments/decode.vlab --device cpu --out "${dir}" | head -1; echo "status \${PIPESTATUS[0]}"`], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stdout.split('\n')[0]).toMatch(/^baseline +per token/);
    expect(r.stdout).toContain('status 141');
    expect(results(dir, 'decode').json.rows.length).toBeGreaterThan(0);
    expect(readdirSync(dir).some((f) => f.includes('partial'))).toBe(false);
  });

  it('the default --out (results/) and what notebooks write are git-ignored', () => {
    const r = spawnSync('git', ['check-ignore', 'results/decode.json', 'notebooks/results/x.csv', 'notebooks/.ipynb_checkpoints/a.ipynb', 'notebooks/executed/a.ipynb'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stdout.trimEnd().split('\n')).toEqual(['results/decode.json', 'notebooks/results/x.csv', 'notebooks/.ipynb_checkpoints/a.ipynb', 'notebooks/executed/a.ipynb']);
  });

  it('two runs of one experiment into one folder keep both results', async () => {
    const dir = temp();
    const file = join(dir, 't.vlab');
    writeFileSync(file, TINY(''));
    const start = () => new Promise<number | null>((r) => spawn(process.execPath, [CLI, 'run', file, '--device', 'cpu', '--out', dir], { stdio: 'ignore' }).on('exit', r));
    expect(await Promise.all([start(), start()])).toEqual([0, 0]);
    const jsons = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(jsons).toHaveLength(2);
    expect(readdirSync(dir).filter((f) => f.endsWith('.csv'))).toHaveLength(2);
    expect(readdirSync(dir).some((f) => f.includes('partial') || f.endsWith('.lock') || f.endsWith('.tmp'))).toBe(false);
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
