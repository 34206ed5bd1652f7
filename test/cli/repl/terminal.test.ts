// vramlab repl in a real pseudo-terminal (python3's pty, test/cli/repl/pty-driver.py): the prompt, Tab
// completion of commands, layers and session numbers, history kept across runs, Ctrl-C on an idle line
// and during a step, Ctrl-D, and how fast the prompt comes back after a pause.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GQA, tempDir } from '../../helpers.js';

const CLI = join(import.meta.dirname, '..', '..', '..', 'dist', 'cli', 'vramlab.js');
const DRIVER = join(import.meta.dirname, 'pty-driver.py');
const dir = tempDir('vramlab-repl-pty-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const hasPython = spawnSync('python3', ['-c', 'import pty']).status === 0;

interface Step {
  /** Seconds to wait before the send. */
  wait?: number;
  send?: string;
  expect: string;
  timeout?: number;
}
interface Played {
  steps: { output: string; ms: number; error?: string }[];
  status: number | null;
}

async function play(steps: Step[], ...args: string[]): Promise<Played> {
  const child = spawn('python3', [DRIVER, process.execPath, CLI, 'repl', ...args], { env: { ...process.env, VRAMLAB_REPL_HISTORY: join(dir, 'history') } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(JSON.stringify(steps));
  await new Promise((resolve) => child.on('close', resolve));
  if (!stdout) throw new Error(`the pty driver failed: ${stderr}`);
  const played = JSON.parse(stdout) as Played;
  const failed = played.steps.find((s) => s.error);
  if (failed) throw new Error(`no match; the screen:\n${failed.output}`);
  return played;
}

const PROMPT = 'vramlab> $';
const PAUSED = (l: number) => `vramlab:L${l}> $`;

describe.skipIf(!hasPython)('in a terminal', () => {
  it('prompts, completes commands, layers and sessions, and keeps history across runs', async () => {
    const p = await play(
      [
        { expect: PROMPT },
        { send: 'brea\t', expect: 'break $' },
        { send: '\x15', expect: '' }, // Ctrl-U: the line is dropped
        { send: 'break \t\t', expect: '0\\s+1\\s+2\\s+3' },
        { send: '2\r', expect: `breakpoints after layers 2\r?\n${PROMPT}` },
        { send: 'sess\t\t', expect: 'session\\s+sessions' },
        { send: ' \t\t', expect: 'new\\s+0' },
        { send: '\x15\r', expect: `\n${PROMPT}` }, // Ctrl-U redraws the prompt: wait for the one after Enter
        { send: '\r', expect: PROMPT }, // Enter on an empty line: only a new prompt
        { send: 'quit\r', expect: '' },
      ],
      GQA,
    );
    expect(p.steps[8]?.output.replace(/\r/g, '')).toBe('\nvramlab> ');
    expect(p.status).toBe(0);
    const history = readFileSync(join(dir, 'history'), 'utf8');
    expect(history).toContain('break 2\nquit\n');
    // the next run finds it: arrow up brings "quit" then "break 2" back
    const q = await play([{ expect: PROMPT }, { send: '\x1b[A\x1b[A', expect: 'break 2$' }, { send: '\x15\x04', expect: '' }]);
    expect(q.status).toBe(0);
  });

  it('gives the prompt back at once after a pause, and Ctrl-C never ends the REPL', async () => {
    const ids = Array.from({ length: 24 }, (_, i) => (i * 37) % 512).join(',');
    const steps: Step[] = [{ expect: PROMPT }, { send: 'break 0 1 2 3\r', expect: PROMPT }, { send: `run ${ids}\r`, expect: PAUSED(0) }];
    for (let l = 1; l < 4; l++) steps.push({ send: 's\r', expect: PAUSED(l) });
    steps.push({ send: 'c\r', expect: `done: 24 rows[\\s\\S]*${PROMPT}` });
    for (let i = 0; i < 5; i++) steps.push({ send: `run ${ids}\r`, expect: PAUSED(0) }, { send: 'abort\r', expect: PROMPT });
    steps.push({ send: 'stats\x03', expect: `\\(To exit, press Ctrl-D or type quit\\)\r?\n${PROMPT}` }); // an idle Ctrl-C drops the line
    steps.push({ send: 'stats\r', expect: `error: nothing is paused[^\n]*\r?\n${PROMPT}` }); // one-line error, REPL on
    steps.push({ send: '\x04', expect: '' });
    const p = await play(steps, GQA);
    expect(p.status).toBe(0);
    const pauses = p.steps.filter((s) => /vramlab:L\d> $/.test(s.output) && /paused after layer/.test(s.output)).map((s) => s.ms);
    expect(pauses.length).toBeGreaterThanOrEqual(8);
    const sorted = [...pauses].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] as number;
    console.log(`prompt back after a pause (command sent -> prompt on the screen, through the pty): median ${median.toFixed(2)} ms, all ${pauses.map((m) => m.toFixed(2)).join(' ')}`);
    expect(median).toBeLessThan(25); // through a pty on a shared machine; latency.test.ts holds the REPL itself to 10 ms
  });

  it('Ctrl-C during a long step stops it at the next layer, paused, and the REPL goes on', async () => {
    const p = await play(
      [
        { expect: PROMPT },
        { send: 'load synthetic:hidden=512,layers=16,heads=8,ffn=1376,vocab=1000\r', expect: PROMPT, timeout: 60 },
        { send: `run ${Array.from({ length: 256 }, (_, i) => i).join(',')}\r`, expect: '\\[layer \\d+/16\\]', timeout: 60 },
        { send: '\x03', expect: `interrupted: paused after layer (\\d+) \\(of 0\\.\\.15\\)[\\s\\S]*vramlab:L\\d+> $`, timeout: 60 },
        { send: 'abort\r', expect: `aborted; the session holds 0 tokens\r?\n${PROMPT}` },
        { send: 'quit\r', expect: '' },
      ],
      GQA,
    );
    const layer = Number(/interrupted: paused after layer (\d+)/.exec(p.steps[3]?.output ?? '')?.[1]);
    expect(layer).toBeLessThan(15);
    // The progress line is erased before each message: they begin a line of their own.
    const output = p.steps[3]?.output ?? '';
    expect(output).toMatch(/(^|[\r\n])\^C \(the step stops at the next layer\)\r?\n/);
    expect(output).toMatch(/[\r\n]interrupted: paused after layer/);
    expect(p.status).toBe(0);
  });

  it('Ctrl-C during a load says it cannot stop it: the load ends, and the model before it stays, its step paused', async () => {
    const spec = 'synthetic:hidden=512,layers=16,heads=8,ffn=1376,vocab=1000'; // seconds to load
    const p = await play(
      [
        { expect: PROMPT },
        { send: 'break 1\r', expect: PROMPT },
        { send: 'run 1,2,3\r', expect: PAUSED(1) },
        { send: `load ${spec}\r`, expect: '\\[#*\\.+\\] [^\r]*loading synthetic:hidden=512', timeout: 30 }, // the bar, not yet full
        { send: '\x03', expect: '\\^C \\(a load cannot stop midway: when it ends, its model is dropped and the one before it stays\\)\r?\n' },
        { expect: `error: the load of ${spec} was interrupted \\(Ctrl-C\\): tiny-llama-gqa stays loaded\r?\n${PAUSED(1)}`, timeout: 60 },
        { send: 'stats 0\r', expect: `shape 1 x 128[\\s\\S]*${PAUSED(1)}` },
        { send: 'c\r', expect: `done: 3 rows of logits[\\s\\S]*${PROMPT}` },
        { send: 'quit\r', expect: '' },
      ],
      GQA,
    );
    expect(p.steps[4]?.output).toMatch(/[\r\n]\^C \(a load/); // the loading bar erased first
    expect(p.status).toBe(0);
  });

  it("survives its user's JavaScript: a late throw is one line, Ctrl-C stops a loop and an endless await", async () => {
    const p = await play(
      [
        { expect: PROMPT },
        { send: 'break 1\r', expect: PROMPT },
        { send: 'run 1,2,3\r', expect: PAUSED(1) },
        { send: 'void setTimeout(() => { throw new RangeError("later") }, 200)\r', expect: `error: uncaught, after its line: RangeError: later\r?\n${PAUSED(1)}` },
        // Each line says when it runs: Ctrl-C typed before would be a key of the line before it.
        { send: 'console.log("looping"); while (true) {}\r', expect: '\nlooping\r?\n' },
        { wait: 0.2, send: '\x03', expect: `error: interrupted \\(Ctrl-C\\): the line stopped\r?\n${PAUSED(1)}` },
        { send: 'await new Promise(() => console.log("waiting"))\r', expect: '\nwaiting\r?\n' },
        { wait: 0.2, send: '\x03', expect: `error: interrupted \\(Ctrl-C\\): the line is no longer awaited; what it started goes on\r?\n${PAUSED(1)}` },
        { send: 'stats 0\r', expect: `shape 1 x 128[\\s\\S]*${PAUSED(1)}` },
        { send: 'c\r', expect: `done: 3 rows of logits[\\s\\S]*${PROMPT}` },
        { send: 'quit\r', expect: '' },
      ],
      GQA,
    );
    expect(p.status).toBe(0);
  });
});
