// vramlab repl driven as a script (stdin and --script): the numbers it saves against the fixtures'
// HuggingFace references (hidden states, steered logits), the logit lens at the last layer against the
// model's own logits, sessions, a .vlab plan stepped through, and the one-line errors that end a script
// with status 1.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { topTokens } from '../../../cli/repl/format.js';
import { readNpy } from '../../../cli/repl/npy.js';
import { GQA, MHA, reference, relativeError, tempDir } from '../../helpers.js';
import { rmSync } from 'node:fs';

const CLI = join(import.meta.dirname, '..', '..', '..', 'dist', 'cli', 'vramlab.js');
const dir = tempDir('vramlab-repl-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function repl(script: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, 'repl', ...args], { input: script, encoding: 'utf8', env: { ...process.env, VRAMLAB_REPL_HISTORY: join(dir, 'history') } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const tmp = (name: string) => join(dir, name);

describe('saved activations and logits', () => {
  it.each([GQA, MHA])('match transformers\' hidden states after every layer, as JSON and .npy (%s)', (model) => {
    const ref = reference(model);
    const L = ref.layer_outputs.length;
    const lines = [`load ${model}`, `break ${Array.from({ length: L }, (_, l) => l).join(' ')}`, `run ${ref.input_ids.join(',')}`];
    for (let l = 0; l < L; l++) lines.push(`save activation ${tmp(`a${l}.${l % 2 ? 'npy' : 'json'}`)}`, 'continue');
    lines.push(`save logits ${tmp('logits.json')}`);
    const r = repl(lines.join('\n'));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const n = ref.input_ids.length;
    for (let l = 0; l < L; l++) {
      const file = tmp(`a${l}.${l % 2 ? 'npy' : 'json'}`);
      let rows: Float32Array;
      let hidden: number;
      if (l % 2) {
        const npy = readNpy(readFileSync(file));
        expect(npy.shape[0]).toBe(n);
        hidden = npy.shape[1] as number;
        rows = npy.data;
      } else {
        const json = JSON.parse(readFileSync(file, 'utf8')) as { activation: number[][] };
        expect(Object.keys(json)).toEqual(['activation']);
        expect(json.activation).toHaveLength(n);
        hidden = (json.activation[0] as number[]).length;
        rows = Float32Array.from(json.activation.flat());
      }
      expect(hidden).toBe((ref.layer_outputs[l] as number[]).length);
      expect(relativeError(rows.subarray((n - 1) * hidden), ref.layer_outputs[l] as number[])).toBeLessThan(1e-4);
    }
    const logits = JSON.parse(readFileSync(tmp('logits.json'), 'utf8')) as { logits: number[][] };
    expect(logits.logits).toHaveLength(n);
    expect(relativeError(logits.logits.flat(), ref.logits.flat())).toBeLessThan(1e-4);
  });

  it('after scale S at layer L, the logits match the steered reference; undo takes an edit back', () => {
    const ref = reference(GQA);
    const { layer, scale } = ref.steer;
    const r = repl([`load ${GQA}`, `break ${layer}`, `run ${ref.input_ids.join(' ')}`, 'zero 3', `scale ${scale}`, 'edits', 'undo', 'undo', `scale ${scale}`, 'edits', 'c', `save logits ${tmp('steered.npy')}`].join('\n'));
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`1. zero position 3\n2. scale ${scale}\n`);
    expect(r.stdout).toContain(`undone: scale ${scale}\nundone: zero position 3\nedit 1: scale ${scale} (applied at the resume)\n1. scale ${scale}\n`);
    const npy = readNpy(readFileSync(tmp('steered.npy')));
    const vocab = ref.steer.logits_last.length;
    expect(npy.shape).toEqual([ref.input_ids.length, vocab]);
    expect(relativeError(npy.data.subarray(npy.data.length - vocab), ref.steer.logits_last)).toBeLessThan(1e-4);
  });

  it('add and set take vectors and activations from files', () => {
    const ref = reference(GQA);
    const n = ref.input_ids.length;
    writeFileSync(tmp('v.json'), JSON.stringify(Array.from({ length: 128 }, () => 0)));
    writeFileSync(tmp('zeros.json'), JSON.stringify({ activation: Array.from({ length: n }, () => Array.from({ length: 128 }, () => 0)) }));
    const r = repl([`load ${GQA}`, 'break 1', `run ${ref.input_ids.join(',')}`, `add ${tmp('v.json')}`, `set ${tmp('zeros.json')}`, 'stats'].join('\n'));
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`shape ${n} x 128  mean 0.0000  std 0.0000  min 0.0000  max 0.0000  NaN 0  Inf 0`);
  });
});

describe('the logit lens', () => {
  it('at the last layer gives the model\'s own top tokens and probabilities', () => {
    const ref = reference(GQA);
    const r = repl([`load ${GQA}`, 'break 3', `run ${ref.input_ids.join(',')}`, 'lens 4', 'c'].join('\n'));
    expect(r.stderr).toBe('');
    const want = topTokens(Float32Array.from(ref.logits[ref.input_ids.length - 1] as number[]), 4);
    const lensLines = r.stdout.split('logit lens after layer 3, last position:\n')[1]?.split('\n').slice(0, 4) ?? [];
    expect(lensLines.map((l) => Number(/^\s*\d+\.\s+(\d+)/.exec(l)?.[1]))).toEqual(want.map((t) => t.id));
    lensLines.forEach((l, i) => expect(Number(/p=([\d.]+)/.exec(l)?.[1])).toBeCloseTo(want[i]?.prob as number, 3));
    // ...and the pass's own top tokens after continue are the same lines
    const done = r.stdout.split(/done: 24 rows of logits \([\d.]+ ms\)\n/)[1]?.split('\n').slice(0, 4);
    expect(done).toEqual(lensLines);
  });

  it('is a JavaScript expression away too: paused.lens() against the logits of the pass', () => {
    const ref = reference(GQA);
    const r = repl([`load ${GQA}`, 'break 3', `run ${ref.input_ids.join(',')}`, 'const lensed = (await paused.lens(24)).data', 'c', 'Math.max(...logits.data.map((v, i) => Math.abs(v - lensed[i])))'].join('\n'));
    expect(r.stderr).toBe('');
    expect(Number(r.stdout.trim().split('\n').pop())).toBeLessThan(1e-5);
  });
});

describe('JavaScript lines', () => {
  it('keeps declarations from line to line, with and without top-level await, as node\'s REPL does', () => {
    const script = `const a = 2
let { b, c: [d] } = await Promise.resolve({ b: 3, c: [4] })
var e = 5; e
function f(n) { return n * a }
class G { constructor() { this.v = d } }
const h = await Promise.resolve(f(b) + new G().v + e)
h
{ h, a }
b = 10; b
a = 1`;
    const r = repl(script);
    expect(r.stdout).toBe('5\n15\n{ h: 15, a: 2 }\n10\n');
    expect(r.stderr).toBe('error: TypeError: Assignment to constant variable.\n');
    expect(r.status).toBe(1);
  });

  it('gives a syntax error as one line with its position', () => {
    const r = repl('const x = await (1 +');
    expect(r.stderr).toBe('error: SyntaxError: Unexpected token (1:20)\n');
    expect(r.status).toBe(1);
  });
});

describe('sessions, steps and plans', () => {
  it('keeps one session paused while another runs; step goes one layer; abort drops the step', () => {
    const r = repl([`load ${GQA}`, 'break 1', 'run 5,6,7', 'session new', 'run 8,9', 'step', 'sessions', 'abort', 'session 0', 'c', 'sessions', 'top 2'].join('\n'));
    expect(r.stderr).toBe('');
    const out = r.stdout;
    expect(out).toMatch(/paused after layer 1 \(of 0\.\.3\): 3 tokens, [\d.]+ ms so far\nsession 1\npaused after layer 1 \(of 0\.\.3\): 2 tokens/);
    expect(out).toMatch(/paused after layer 2 \(of 0\.\.3\): 2 tokens/);
    expect(out).toContain('  0  0 tokens  paused after layer 1\n* 1  0 tokens  paused after layer 2\naborted; the session holds 0 tokens\nsession 0\n');
    expect(out).toMatch(/done: 3 rows of logits/);
    expect(out).toContain('* 0  3 tokens  idle\n  1  0 tokens  idle\n');
  });

  it('times a paused step on the device without the time it waited at the prompt, its layers from its start', () => {
    const PAUSE = 2000; // ms at the prompt: many times the tiny pass, even on a busy machine
    const r = repl([`load ${GQA}`, 'break 1', `run ${reference(GQA).input_ids.join(',')}`, `await new Promise((r) => setTimeout(r, ${PAUSE}))`, 'c', 'timeline'].join('\n'));
    expect(r.stderr).toBe('');
    const head = /last pass: 24 tokens, ([\d.]+) ms wall, ([\d.]+) ms device\n/.exec(r.stdout);
    expect(head, r.stdout).not.toBeNull();
    expect(Number(head?.[1])).toBeLessThan(PAUSE / 2);
    expect(Number(head?.[2])).toBeGreaterThan(0);
    expect(Number(head?.[2])).toBeLessThan(PAUSE / 2);
    const layers = [...r.stdout.matchAll(/layer +(\d)  compute +([\d.]+) ms \(at ([\d.]+)\)/g)].map((m) => ({ layer: Number(m[1]), ms: Number(m[2]), at: Number(m[3]) }));
    expect(layers.map((l) => l.layer)).toEqual([0, 1, 2, 3]);
    // One clock from the pass's start: each layer starts after the one before ends, the resumed ones too.
    for (let l = 1; l < 4; l++) expect(layers[l]!.at).toBeGreaterThanOrEqual(layers[l - 1]!.at + layers[l - 1]!.ms - 0.02);
    expect(layers[3]!.at + layers[3]!.ms).toBeLessThanOrEqual(Number(head?.[2]) + 0.02);
  });

  it('runs text through the tokenizer, and prints mem and timeline', () => {
    const r = repl([`load ${GQA}`, 'run "Hello world"', 'mem', 'timeline'].join('\n'));
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/done: \d+ rows of logits/);
    expect(r.stdout).toMatch(/device  [\d.]+ \w*B in use \(peak [\d.]+ \w*B\) of a [\d.]+ \w*B budget\n/);
    expect(r.stdout).toMatch(/session 0  \d+ tokens, 1 blocks: 1 on the device, 0 in host memory/);
    expect(r.stdout).toMatch(/layer   3  compute +[\d.]+ ms/);
  });

  it('steps through a .vlab plan: next pauses at its breakpoints, lens reads the plan model\'s tokens, results shows the rows', () => {
    const vlab = tmp('bp.vlab');
    writeFileSync(vlab, ['experiment bp {', '  measure = breakpoints', `  model = "${GQA}"`, '  baselines = [resume]', '  prompt = 8 tokens', '  scale = 0.9', '  repeat = 1', '  warmup = 0', '  layer = 1', '}', ''].join('\n'));
    // The REPL's own model is synthetic (no tokenizer): the plan's pause is the fixture's, which has one.
    const r = repl(['load synthetic:tiny', `open ${vlab}`, 'next', 'stats 0', 'lens 1', 'next', 'results'].join('\n'));
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/opened .*bp\.vlab: 1 experiment\(s\), 1 steps; next to run to its first pause\nexperiment bp\n/);
    expect(r.stdout).toMatch(/bp: breakpoint resume run 0 paused after layer 1 \(8 tokens\)/);
    expect(r.stdout).toMatch(/shape 1 x 128 .*\nL2 norm per position  0:/);
    expect(r.stdout).toMatch(/logit lens after layer 1, last position:\n {2}1\. +\d+ {2}".*" +p=0\.\d{4}  logit /);
    expect(r.stdout).toMatch(/\nrow 1: bp: baseline resume, layer 1, placement resident, prompt tokens 8, edit scale 0\.9, run 0, resume \(ms\) \d\.\d{3,}, .*, status ok\nplan done: 1 row\n/);
    // The table `vramlab run` prints: the parameters that vary (here none: the first), the metrics.
    const table = r.stdout.split('bp: 1 row\n')[1]?.split('\n') ?? [];
    expect(table[0]).toMatch(/^ {2}baseline +resume \((ms|us)\) +to logits \((ms|us)\) +pause \((ms|us)\) +moved \(KB\) +logit rel\. error +token match$/);
    expect(table[1]).toMatch(/^ {2}resume +\d[\d.]* +\d[\d.]* +\d[\d.]* +8\.19 +0 +yes$/);
  });

  it('Ctrl-C stops a plan at its next row; finish then goes on to its end', async () => {
    const child = spawn(process.execPath, [CLI, 'repl'], { env: { ...process.env, VRAMLAB_REPL_HISTORY: join(dir, 'history') } });
    let stdout = '';
    let signalled = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!signalled && stdout.includes('\nrow 1: ')) {
        signalled = true;
        child.kill('SIGINT');
      }
    });
    child.stdin.end(['open experiments/breakpoints.vlab', 'finish', 'results', 'finish'].join('\n'));
    const status = await new Promise((done) => child.on('close', done));
    expect(status).toBe(0);
    const stopped = /\ninterrupted: (\d+) rows? so far \(next or finish goes on\)\nbreakpoints: \1 rows?\n/.exec(stdout);
    expect(stopped, stdout).not.toBeNull();
    expect(Number(stopped?.[1])).toBeLessThan(18);
    expect(stdout).toMatch(/\nrow 18: .*\nplan done: 18 rows, \d+ pauses passed\n$/);
  }, 60_000);

  it('runs a plan to its end past its pauses (finish), and closes it', () => {
    const r = repl(['open experiments/breakpoints.vlab', 'next', 'run-to-end', 'results', 'close', 'open experiments/breakpoints.vlab', 'next', 'close', 'results'].join('\n'));
    expect(r.stdout).toContain('breakpoints: breakpoint resume warm-up paused after layer 0 (32 tokens): inspect it, next to go on\n');
    // 3 baselines x 3 layers x (a warm-up and 2 runs) pause 27 times: the first at next, the others passed.
    expect(r.stdout).toMatch(/\nrow 18: breakpoints: baseline offload, layer 3, .*\nplan done: 18 rows, 26 pauses passed\nbreakpoints: 18 rows\n {2}baseline +layer +resume .* runs\n/);
    // A line per configuration, its two runs averaged
    const lines = r.stdout.split('breakpoints: 18 rows\n')[1]?.split('\n').slice(1, 10) ?? [];
    expect(lines.map((l) => l.trim().split(/ +/).slice(0, 2).join(' '))).toEqual([0, 1, 3].flatMap((layer) => ['resume', 'recompute', 'offload'].map((b) => `${b} ${layer}`)));
    for (const l of lines) expect(l).toMatch(/ yes +2$/);
    expect(r.stdout).toContain('closed experiments/breakpoints.vlab after 18 rows\n');
    expect(r.stdout).toMatch(/closed experiments\/breakpoints\.vlab after 0 rows \(it had not run to its end\)\n$/);
    expect(r.stderr).toBe('error: no plan open: open FILE.vlab first\n');
  }, 60_000);
});

describe('errors', () => {
  it.each([
    ['break 9', 'error: bad layer "9": the model\'s decoder layers are 0..3'],
    ['stats', 'error: nothing is paused: stats needs a paused step (break L, then run)'],
    ['top', 'error: no logits yet: run a pass to the end first (run, then continue)'],
    ['run 5,x', 'error: run: "x" is not a token id (ids separated by commas or spaces, or a quoted text)'],
    ['run 1,,2', 'error: run: "" is not a token id (ids separated by commas or spaces, or a quoted text)'],
    ['run 0x10', 'error: run: "0x10" is not a token id (ids separated by commas or spaces, or a quoted text)'],
    ['run 999', 'error: token id 999 at position 0 is outside the vocabulary (0..511)'],
    ['add /nonexistent.json', 'error: /nonexistent.json: no such file, and not a list of numbers a,b,c'],
    ['nosuchthing + 1', 'error: ReferenceError: nosuchthing is not defined'],
    ['session 4', 'error: bad session "4": use session new or 0..0'],
    ['brak 2', 'error: unknown command "brak" (did you mean break?): help lists the commands (as JavaScript: SyntaxError: Unexpected token (1:5))'],
    ['contnue', 'error: unknown command "contnue" (did you mean continue?): help lists the commands (as JavaScript: ReferenceError: contnue is not defined)'],
    ['frobnicate --all', 'error: unknown command "frobnicate": help lists the commands (as JavaScript: SyntaxError: Unexpected token (1:13))'],
    ['help brak', 'error: no command "brak" (did you mean break?) (help lists them)'],
    [`load ${GQA} --budgte 1GB`, "error: load: unknown option '--budgte' (did you mean --budget?); its options: --budget, --placement, --ring, --prefetch, --kv-pool-tokens"],
  ])('%s: one line, exit status 1, the lines before it run', (line, message) => {
    const r = repl([`load ${GQA}`, 'break 1', line, 'break 2'].join('\n'));
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`${message}\n`);
    expect(r.stdout).toMatch(/breakpoints after layers 1\n$/); // the line after the error did not run
  });

  it.each([
    ['top 0', 'error: top: k must be 1..512 (the vocabulary), got 0'],
    ['top 1000', 'error: top: k must be 1..512 (the vocabulary), got 1000'],
    ['lens 0', 'error: lens: k must be 1..512 (the vocabulary), got 0'],
    ['lens 513', 'error: lens: k must be 1..512 (the vocabulary), got 513'],
  ])('%s: refused with the range', (line, message) => {
    const r = repl([`load ${GQA}`, 'break 1', 'run 1,2,3', line.startsWith('top') ? 'c' : '# paused', line].join('\n'));
    expect(r.stderr).toBe(`${message}\n`);
    expect(r.status).toBe(1);
  });

  it('JavaScript that throws after its line is one line too, and ends a script (status 1)', () => {
    for (const late of ['setTimeout(() => { throw new TypeError("late") }, 20)', 'void Promise.reject(new TypeError("late"))']) {
      const r = repl([`load ${GQA}`, late, 'await new Promise((r) => setTimeout(r, 200))', 'break 2'].join('\n'));
      expect(r.stderr).toBe('error: uncaught, after its line: TypeError: late\n');
      expect(r.status).toBe(1);
      expect(r.stdout).not.toContain('breakpoints after layers 2'); // the script ended there
    }
  });

  it('a wrong state is an error and the session stays usable (interactive use goes on)', () => {
    const r = repl([`load ${GQA}`, 'break 1', 'run 1,2', 'run 3'].join('\n'));
    expect(r.stderr).toBe('error: the session is paused after layer 1: continue or abort that step first\n');
    expect(r.status).toBe(1);
  });

  it('needs a model first; --script runs a file; an empty line and comments do nothing', () => {
    expect(repl('stats').stderr).toBe('error: no model loaded: load MODEL first (a model directory or synthetic:<spec>)\n');
    const file = tmp('script.txt');
    writeFileSync(file, ['# a comment', '', 'break 0', 'run 1,2,3', 'c', 'top 1'].join('\n'));
    const r = spawnSync(process.execPath, [CLI, 'repl', GQA, '--script', file], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean)).toHaveLength(1 + 1 + 1 + 1 + 5 + 1);
    // An error names the script's line
    writeFileSync(file, ['break 0', '', 'frobnicate 3', 'break 1'].join('\n'));
    const bad = spawnSync(process.execPath, [CLI, 'repl', GQA, '--script', file], { encoding: 'utf8' });
    expect(bad.stderr).toBe(`${file}:3: error: unknown command "frobnicate": help lists the commands (as JavaScript: SyntaxError: Unexpected token (1:11))\n`);
    expect(bad.status).toBe(1);
    expect(spawnSync(process.execPath, [CLI, 'repl', '--script', tmp('none.txt')], { encoding: 'utf8' }).stderr).toBe(`vramlab: ${tmp('none.txt')}: no such file\n`);
  });
});
