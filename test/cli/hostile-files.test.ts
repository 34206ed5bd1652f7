// Hostile files at every input and output of the command line: each input kind (a model's
// generation_config.json, tokenizer.json and tokenizer_config.json, --ids-file, report's inputs, the
// REPL's add/set files and --script, a .vlab file) as a FIFO, a link to /dev/zero, a directory, a loop
// of symbolic links and a sparse file one byte over its limit is one line naming it, status 1, at once
// (each command runs under a time limit: a hang fails the test rather than blocking it); check finds in
// a .vlab's model what plan and run would meet. Writes (report --out, the REPL's save, run's partial
// rows) to a FIFO, /dev/full or a directory are refused; a closed or full stdout ends a command with
// EPIPE quietly, with ENOSPC in one line; a full stderr changes neither the output nor the status.
import { type ChildProcess, spawn, spawnSync, type StdioOptions } from 'node:child_process';
import { closeSync, cpSync, mkdirSync, openSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BENCH_RESULTS } from '../results-fixtures.js';
import { CLI, GQA, ROOT, tempDir } from '../helpers.js';

const dir = tempDir('vramlab-hostile-');
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill();
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
const fresh = (name: string) => join(dir, `${n++}-${name}`);

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `command args` to its end, at most 20 s (a command that hangs on a file fails here, killed),
 * with `input` on its stdin; without blocking this worker meanwhile.
 */
function spawned(command: string, args: string[], options: { input?: string; stdio?: StdioOptions } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: ROOT, timeout: 20_000, env: { ...process.env, VRAMLAB_REPL_HISTORY: join(dir, 'history') }, stdio: options.stdio ?? 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin?.end(options.input ?? '');
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** The command line, as spawned() runs it. */
const run = (args: string[], options: { input?: string; stdio?: StdioOptions } = {}) => spawned(process.execPath, [CLI, ...args], options);
const bash = (script: string, ...args: string[]) => spawned('bash', ['-c', script, 'bash', ...args]);

type Member = 'a FIFO' | 'a link to /dev/zero' | 'a directory' | 'a loop of symbolic links' | 'a file over the limit';
const MEMBERS: Member[] = ['a FIFO', 'a link to /dev/zero', 'a directory', 'a loop of symbolic links', 'a file over the limit'];

/** Puts `member` at `path` (a sparse file of limit + 1 bytes for the last). */
function place(path: string, member: Member, limit: number): void {
  rmSync(path, { recursive: true, force: true });
  if (member === 'a FIFO') expect(spawnSync('mkfifo', [path]).status).toBe(0);
  if (member === 'a link to /dev/zero') symlinkSync('/dev/zero', path);
  if (member === 'a directory') mkdirSync(path);
  if (member === 'a loop of symbolic links') symlinkSync(path, path);
  if (member === 'a file over the limit') {
    writeFileSync(path, '');
    truncateSync(path, limit + 1);
  }
}

/** What the reader says of `member` at `path`, for a file of kind `what` and its limit. */
function said(path: string, member: Member, what: string, limit: number): string {
  switch (member) {
    case 'a FIFO':
      return `${path}: is a FIFO, not ${what}`;
    case 'a link to /dev/zero':
      return `${path}: is a character device, not ${what}`;
    case 'a directory':
      return `${path}: is a directory, not ${what}`;
    case 'a loop of symbolic links':
      return `${path}: cannot read (a loop of symbolic links)`;
    case 'a file over the limit':
      return `${path}: ${limit + 1} bytes, more than the ${limit} ${what} may have`;
  }
}

/** A copy of the GQA fixture with `member` as its `file`. */
function modelWith(file: string, member: Member, limit: number): { model: string; path: string } {
  const model = fresh('model');
  cpSync(GQA, model, { recursive: true });
  const path = join(model, file);
  place(path, member, limit);
  return { model, path };
}

function expectOneLine(r: Ran, message: string): void {
  expect(r.stderr).toBe(`vramlab: ${message}\n`);
  expect(r.status).toBe(1);
}

const MiB = 2 ** 20;

describe("a model directory's files read in TypeScript", () => {
  const cases = MEMBERS.flatMap((m) => [
    ['generation_config.json', m, 'a generation_config.json', 16 * MiB] as const,
    ['tokenizer.json', m, 'a tokenizer.json', 128 * MiB] as const,
    ['tokenizer_config.json', m, 'a tokenizer_config.json', 16 * MiB] as const,
  ]);

  it.each(cases)('%s as %s: generate --prompt says so in one line, and check finds it first', async (file, member, what, limit) => {
    const { model, path } = modelWith(file, member, limit);
    expectOneLine(await run(['generate', model, '--prompt', 'The cat', '--max-new-tokens', '1']), said(path, member, what, limit));
    const vlab = fresh('t.vlab');
    writeFileSync(vlab, `experiment s {\n  measure = decode\n  model = "${model}"\n  prompt = "The cat"\n}\n`);
    const r = await run(['check', vlab]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(said(path, member, what, limit));
  });
});

describe('files named on the command line', () => {
  it.each(MEMBERS.filter((m) => m !== 'a FIFO'))('--ids-file as %s', async (member) => {
    const path = fresh('ids');
    place(path, member, 64 * MiB);
    expectOneLine(await run(['generate', GQA, '--ids-file', path, '--max-new-tokens', '1']), said(path, member, 'an ids file', 64 * MiB));
  });

  it('--ids-file as a pipe is read as it comes (<(cmd)), to at most 64 MiB; waiting for a writer, Ctrl-C ends it', async () => {
    const ok = await bash(`node "$1" generate "$2" --ids-file <(sleep 0.3; printf '1,2\\n3\\n') --max-new-tokens 2`, CLI, GQA);
    expect(ok.stdout).toMatch(/^\d+ \d+\n\d+ \d+\n$/);
    expect(ok.status).toBe(0);
    const big = await bash(`node "$1" generate "$2" --ids-file <(head -c 70000000 /dev/zero | tr '\\0' 1) --max-new-tokens 2`, CLI, GQA);
    expect(big.stderr).toMatch(/^vramlab: \/dev\/fd\/\d+: more than the 67108864 bytes an ids file may have\n$/);
    expect(big.status).toBe(1);
    const fifo = fresh('ids-fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const waiting = spawn(process.execPath, [CLI, 'generate', GQA, '--ids-file', fifo, '--max-new-tokens', '1']);
    const ended = new Promise<NodeJS.Signals | null>((resolve) => waiting.on('close', (_, signal) => resolve(signal)));
    setTimeout(() => waiting.kill('SIGINT'), 500);
    expect(await ended).toBe('SIGINT');
  });

  it.each(MEMBERS)("report's input as %s", async (member) => {
    const path = fresh('results.json');
    place(path, member, 256 * MiB);
    expectOneLine(await run(['report', path, '--out', fresh('report.html')]), said(path, member, 'a results file', 256 * MiB));
  });

  it.each(MEMBERS)('a .vlab file as %s', async (member) => {
    const path = fresh('x.vlab');
    place(path, member, MiB);
    const r = await run(['check', path]);
    expect(r.stderr).toBe(`${said(path, member, 'a .vlab file', MiB)}\n`);
    expect(r.status).toBe(1);
  });
});

describe("the REPL's files", () => {
  const paused = [`load ${GQA}`, 'break 1', 'run 1,2,3'];
  const cases = MEMBERS.flatMap((m) => [
    ['add', 'v.json', m, 'a JSON file of values', 256 * MiB] as const,
    ['set', 'a.npy', m, 'a .npy file', 2 ** 30] as const,
  ]);

  it.each(cases)('%s %s as %s: one line, the REPL goes on in a terminal', async (command, name, member, what, limit) => {
    const path = fresh(name);
    place(path, member, limit);
    const r = await run(['repl'], { input: [...paused, `${command} ${path}`].join('\n') });
    expect(r.stderr).toBe(`error: ${said(path, member, what, limit)}\n`);
    expect(r.status).toBe(1);
  });

  it.each(MEMBERS.filter((m) => m !== 'a FIFO'))('--script as %s', async (member) => {
    const path = fresh('script.txt');
    place(path, member, 16 * MiB);
    expectOneLine(await run(['repl', '--script', path]), said(path, member, 'a script', 16 * MiB));
  });

  it('--script as a pipe is read as it comes', async () => {
    const r = await bash(`node "$1" repl --script <(printf 'load %s\\nbreak 1\\n' "$2")`, CLI, GQA);
    expect(r.stdout).toMatch(/breakpoints after layers 1\n$/);
    expect(r.status).toBe(0);
  });
});

/** A FIFO with a reader holding it open (a write to it would not fail for want of one). */
function fifoWithReader(): string {
  const path = fresh('fifo');
  expect(spawnSync('mkfifo', [path]).status).toBe(0);
  const reader = spawn('sh', ['-c', `cat "${path}" > /dev/null`]);
  children.push(reader);
  return path;
}

describe('writes go to regular files only', () => {
  const targets: [string, () => string, string][] = [
    ['a FIFO without a reader', () => {
      const p = fresh('fifo');
      expect(spawnSync('mkfifo', [p]).status).toBe(0);
      return p;
    }, 'a FIFO'],
    ['a FIFO with a reader', fifoWithReader, 'a FIFO'],
    ['/dev/full', () => '/dev/full', 'a character device'],
    ['a directory', () => {
      const p = fresh('out');
      mkdirSync(p);
      return p;
    }, 'a directory'],
  ];

  it.each(targets)('report --out to %s', async (_, target, kind) => {
    const out = target();
    expectOneLine(await run(['report', join(BENCH_RESULTS, 'decode.json'), '--out', out]), `${out}: cannot write the report (is ${kind}, not a regular file)`);
  });

  it.each(targets)("the REPL's save to %s", async (_, target, kind) => {
    const out = target();
    const r = await run(['repl'], { input: [`load ${GQA}`, 'break 1', 'run 1,2,3', `save activation ${out}`].join('\n') });
    expect(r.stderr).toBe(`error: ${out}: cannot save the activation (is ${kind}, not a regular file)\n`);
    expect(r.status).toBe(1);
  });

  it("run's rows file (NAME.partial.jsonl) as a FIFO", async () => {
    const out = fresh('results');
    mkdirSync(out);
    expect(spawnSync('mkfifo', [join(out, 'tiny.partial.jsonl')]).status).toBe(0);
    const vlab = fresh('tiny.vlab');
    writeFileSync(vlab, 'experiment tiny {\n  measure = decode\n  model = synthetic(tiny)\n  prompt = 4 tokens\n  new_tokens = 1\n  repeat = 1\n}\n');
    const r = await run(['run', vlab, '--out', out]);
    expect(r.stderr).toContain(`${join(out, 'tiny.partial.jsonl')}: cannot write (is a FIFO, not a regular file)`);
    expect(r.status).not.toBe(0);
  });
});

describe('stdout that goes away or fills up', () => {
  const IDS = Array.from({ length: 40 }, (_, i) => i + 1).join(',');
  // Each writes more than a pipe holds (64 KiB), or goes on writing long after head has left.
  const piped = [
    ['logits --json', ['logits', GQA, '--ids', IDS, '--json']],
    ['generate', ['generate', GQA, '--ids', '1,2', '--max-new-tokens', '500', '--ignore-eos']],
  ] as const;
  const commands = [...piped, ['logits (a table)', ['logits', GQA, '--ids', IDS]], ['plan', ['plan', join(ROOT, 'experiments', 'decode.vlab')]]] as const;

  it.each(piped)('%s | head -c 20: ends quietly, status 141 (SIGPIPE), as head expects', async (_, args) => {
    const r = await bash(`node "$@" | head -c 20 >/dev/null; echo "\${PIPESTATUS[0]}"`, CLI, ...args);
    expect(r.stderr.split('\n').filter((l) => !/^ *(prefill|decode) time/.test(l) && l !== '')).toEqual([]);
    expect(r.stdout).toBe('141\n');
  });

  it('2> /dev/full: the timings are lost, the output and the status are not', async () => {
    const full = openSync('/dev/full', 'w');
    try {
      const r = await run(['generate', GQA, '--ids', '1,2', '--max-new-tokens', '3'], { stdio: ['ignore', 'pipe', full] });
      expect([r.status, r.stdout]).toEqual([0, '224 362 141\n']);
      expect((await run(['generate', GQA, '--ids', '999', '--max-new-tokens', '3'], { stdio: ['ignore', 'pipe', full] })).status).toBe(1);
    } finally {
      closeSync(full);
    }
  });

  it.each(commands)('%s > /dev/full: one line, status 1', async (_, args) => {
    const full = openSync('/dev/full', 'w');
    try {
      const r = await run([...args], { stdio: ['ignore', full, 'pipe'] });
      expect(r.stderr.split('\n').filter((l) => !/^ *(prefill|decode) time/.test(l) && l !== '')).toEqual(['vramlab: cannot write the output to stdout (no space left on the device)']);
      expect(r.status).toBe(1);
    } finally {
      closeSync(full);
    }
  });
});
