// commands.ts: the REPL's commands, one entry each (name, aliases, usage, help, run), wired in one
// table (a plan's: plan-commands.ts); anything that is not a command is JavaScript (evaluate.ts). A
// command's user error is a VramlabError: the REPL prints its message on one line and goes on.
import { parseArgs } from 'node:util';
import { decodeIds, encodeText, hasTokenizer } from '../../dsl/models.js';
import { suggest } from '../../dsl/settings.js';
import { VramlabError } from '../../runtime/errors.js';
import { fileExists, readJsonFile, readRegularFile, writeRegularFile } from '../../runtime/files.js';
import type { Logits } from '../../runtime/logits.js';
import { type Model, Runtime } from '../../runtime/runtime.js';
import { argsErrorText, parseIds } from '../args.js';
import { loadingBar } from '../progress.js';
import { type Placement, PLACEMENTS } from '../../runtime/types.js';
import type { Command, CommandContext } from './command.js';
import { activationStats, formatSize, formatStats, formatTop, ms, topTokens } from './format.js';
import { npyBytes, readNpy } from './npy.js';
import { PLAN_COMMANDS, runPlan } from './plan-commands.js';
import { type Edit, type SessionSlot, usage } from './state.js';

/** What Ctrl-C does to a running step. */
const STOPS_STEP = 'the step stops at the next layer';

function layerArg(text: string, ctx: CommandContext): number {
  const L = ctx.state.needModel().shape.numLayers;
  const v = Number(text);
  if (!/^\d+$/.test(text) || v >= L) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `bad layer "${text}": the model's decoder layers are 0..${L - 1}`);
  return v;
}

function intArg(text: string | undefined, name: string, dflt: number): number {
  if (text === undefined) return dflt;
  if (!/^\d+$/.test(text)) throw usage(`${name}: "${text}" is not a whole number`);
  return Number(text);
}

/** How many top tokens `top`/`lens` show: 1 to the vocabulary's size (default 5). */
function topArg(text: string | undefined, name: string, vocab: number): number {
  const k = intArg(text, name, 5);
  if (k < 1 || k > vocab) throw usage(`${name}: k must be 1..${vocab} (the vocabulary), got ${text}`);
  return k;
}

function numberArg(text: string | undefined, name: string): number {
  const v = Number(text);
  if (text === undefined || text.trim() === '' || !Number.isFinite(v)) throw usage(`${name}: "${text ?? ''}" is not a number`);
  return v;
}

/** Where the current step is: "paused after layer 2 of 4 (24 tokens, 1.23 ms so far)". */
function where(slot: SessionSlot, L: number): string {
  const p = slot.paused;
  return p ? `paused after layer ${p.layer} (of 0..${L - 1}): ${p.tokens} tokens, ${ms(slot.stepMs)} so far` : 'not paused';
}

/** Token ids as text through the tokenizer of the current slot's model (a plan step's own, when paused). */
function tokenText(ctx: CommandContext): ((id: number) => string) | null {
  const dir = ctx.state.slot().modelDir;
  return dir && hasTokenizer(dir) ? (id) => decodeIds(dir, [id]) : null;
}

function printTop(ctx: CommandContext, row: Float32Array, k: number): void {
  for (const l of formatTop(topTokens(row, k), tokenText(ctx))) ctx.print(l);
}

/** After a segment: where it paused, or the top next tokens. */
function report(ctx: CommandContext, slot: SessionSlot): void {
  const L = ctx.state.needModel().shape.numLayers;
  if (slot.paused) {
    ctx.print(`${ctx.state.interrupted ? 'interrupted: ' : ''}${where(slot, L)}`);
    return;
  }
  const logits = slot.logits as Logits;
  ctx.print(`done: ${logits.rows} rows of logits (${ms(slot.stepMs)})`);
  printTop(ctx, logits.row(logits.rows - 1), 5);
}

async function advance(ctx: CommandContext, stopAtNext: boolean): Promise<void> {
  const { state } = ctx;
  if (state.plan?.slot) return runPlan(ctx, true);
  const slot = state.slot();
  const p = state.needPaused(stopAtNext ? 'step' : 'continue');
  await state.drive(slot, () => p.resume(), stopAtNext);
  report(ctx, slot);
}

function parseIdsText(rest: string, ctx: CommandContext): number[] {
  const t = rest.trim();
  if (t === '') throw usage('run needs token ids (run 3,17,42) or a quoted text (run "Hello")');
  if (t.startsWith('"') || t.startsWith("'")) {
    let text: string;
    try {
      text = t.startsWith('"') ? (JSON.parse(t) as string) : t.slice(1, t.endsWith("'") ? -1 : undefined);
    } catch {
      throw usage(`run: ${t} is not a quoted text`);
    }
    const dir = ctx.state.modelDir;
    if (!dir) throw new VramlabError('VL_ERR_UNSUPPORTED', 'a synthetic model has no tokenizer: run token ids (run 3,17,42)');
    return encodeText(dir, text);
  }
  return parseIds(t, 'run', 'ids separated by commas or spaces, or a quoted text');
}

function readVector(text: string, what: string): Float32Array {
  if (fileExists(text)) return readValues(text, what);
  const parts = text.split(',').map((s) => s.trim());
  const v = parts.map(Number);
  if (parts.some((p) => p === '') || v.some((x) => !Number.isFinite(x))) throw new VramlabError('VL_ERR_IO', `${text}: no such file, and not a list of numbers a,b,c`);
  return Float32Array.from(v);
}

/** The largest files of values read: a .npy of 2^28 float32 values, a JSON text of 256 MiB. */
const MAX_NPY_BYTES = 2 ** 30;
const MAX_JSON_BYTES = 256 * 2 ** 20;

/** Floats from a .npy file or a JSON file (a flat array, an array of rows, or {"activation": rows}). */
function readValues(path: string, what: string): Float32Array {
  if (path.endsWith('.npy')) {
    const bytes = readRegularFile(path, MAX_NPY_BYTES, 'a .npy file');
    try {
      return readNpy(bytes).data;
    } catch (e) {
      throw new VramlabError('VL_ERR_FORMAT', `${path}: ${(e as Error).message}`);
    }
  }
  let json = readJsonFile(path, MAX_JSON_BYTES, 'a JSON file of values');
  if (json && typeof json === 'object' && !Array.isArray(json)) json = Object.values(json)[0];
  const flat = Array.isArray(json) ? (json as unknown[]).flat(2) : [];
  if (flat.length === 0 || flat.some((x) => typeof x !== 'number')) throw new VramlabError('VL_ERR_FORMAT', `${path}: ${what} must be numbers (a list, or a list of rows)`);
  return Float32Array.from(flat as number[]);
}

function saveMatrix(file: string, key: string, data: Float32Array, rows: number, cols: number): void {
  const bytes = file.endsWith('.npy') ? npyBytes(data, rows, cols) : JSON.stringify({ [key]: Array.from({ length: rows }, (_, r) => Array.from(data.subarray(r * cols, (r + 1) * cols))) }) + '\n';
  writeRegularFile(file, bytes, { doing: `save the ${key}` });
}

/** Makes an edit on the pause (and records it, reading the base activation before the first one). */
function applyEdit(ctx: CommandContext, e: Edit, record = true): void {
  const slot = ctx.state.slot();
  const p = ctx.state.needPaused('an edit');
  if (record && slot.edits.length === 0) slot.base = p.activation().slice();
  switch (e.kind) {
    case 'scale':
      p.scale(e.s);
      break;
    case 'add':
      p.add(e.v);
      break;
    case 'set':
      if (e.values.length !== p.tokens * p.hidden)
        throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `${e.from} has ${e.values.length} values but the activation is ${p.tokens} x ${p.hidden} = ${p.tokens * p.hidden}`);
      p.setActivation(e.values);
      break;
    case 'zero': {
      const a = p.activation().slice();
      if (e.pos === null) a.fill(0);
      else a.fill(0, e.pos * p.hidden, (e.pos + 1) * p.hidden);
      p.setActivation(a);
      break;
    }
  }
  if (record) slot.edits.push(e);
}

function describe(e: Edit): string {
  switch (e.kind) {
    case 'scale':
      return `scale ${e.s}`;
    case 'add':
      return `add ${e.from} (${e.v.length} values)`;
    case 'set':
      return `set ${e.from}`;
    case 'zero':
      return e.pos === null ? 'zero (every position)' : `zero position ${e.pos}`;
  }
}

function posArg(text: string | undefined, ctx: CommandContext): number | null {
  if (text === undefined) return null;
  const p = ctx.state.needPaused('a position');
  const v = Number(text);
  if (!/^\d+$/.test(text) || v >= p.tokens) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `bad position "${text}": the step has positions 0..${p.tokens - 1}`);
  return v;
}

/** The options of a command's words, an unknown one named with the nearest of them. */
function options<O extends Record<string, { type: 'string' }>>(command: string, args: string[], known: O) {
  try {
    return parseArgs({ args, allowPositionals: true, strict: true, options: known });
  } catch (e) {
    const text = argsErrorText(e);
    const unknown = /^unknown option '(.*)'$/.exec(text)?.[1];
    const flags = Object.keys(known).map((o) => `--${o}`);
    throw usage(`${command}: ${text}${unknown === undefined ? '' : `${suggest(unknown, flags)}; its options: ${flags.join(', ')}`}`);
  }
}

export const COMMANDS: Command[] = [
  {
    name: 'load',
    usage: 'load MODEL [--budget SIZE] [--placement P] [--ring SIZE] [--prefetch N] [--kv-pool-tokens N]',
    help: 'load a model (a HuggingFace Llama directory or synthetic:<spec>) with one session; once it is loaded, the one before goes (a failed load leaves it)',
    completes: 'files',
    interrupt: 'a load cannot stop midway: when it ends, its model is dropped and the one before it stays',
    async run(args, ctx) {
      const parsed = options('load', args, { budget: { type: 'string' }, placement: { type: 'string' }, ring: { type: 'string' }, prefetch: { type: 'string' }, 'kv-pool-tokens': { type: 'string' } });
      const [source, ...extra] = parsed.positionals;
      if (!source || extra.length) throw usage('usage: load MODEL [--budget SIZE] [--placement P]');
      const v = parsed.values;
      if (v.placement !== undefined && !PLACEMENTS.includes(v.placement as Placement)) throw usage(`--placement: "${v.placement}" is not one of ${PLACEMENTS.join(', ')}`);
      const modelOptions = {
        placement: v.placement as Placement | undefined,
        ring: v.ring,
        prefetch: v.prefetch === undefined ? undefined : intArg(v.prefetch, '--prefetch', 1),
        kvPoolTokens: v['kv-pool-tokens'] === undefined ? undefined : intArg(v['kv-pool-tokens'], '--kv-pool-tokens', 0),
      };
      // The new model in a runtime of its own first: until it is loaded, the one before, its sessions
      // and paused steps stay as they are (a failed or interrupted load leaves them so).
      const { state } = ctx;
      const rt = await Runtime.open({ device: state.device, budget: v.budget });
      const bar = loadingBar(source); // on a terminal's stderr
      let model: Model;
      try {
        model = await rt.loadModel(source, { ...modelOptions, onProgress: bar.onProgress });
        if (state.interrupted) throw new VramlabError('VL_ERR_STATE', `the load of ${source} was interrupted (Ctrl-C): ${state.model ? `${state.model.name} stays loaded` : 'no model is loaded'}`);
      } catch (e) {
        rt.dispose();
        throw e;
      } finally {
        bar.end();
      }
      state.adopt(rt, model, source.startsWith('synthetic:') ? null : source);
      const s = model.shape;
      ctx.print(`loaded ${model.name}: ${s.numLayers} layers, hidden ${s.hiddenSize}, vocab ${s.vocabSize} on ${rt.deviceName()}; session 0`);
    },
  },
  {
    name: 'break',
    usage: 'break [L ...]',
    help: 'arm breakpoints after decoder layers L; without layers, list them',
    completes: 'layers',
    run(args, ctx) {
      const layers = args.map((a) => layerArg(a, ctx));
      for (const l of layers) ctx.state.breakpoints.add(l);
      const all = [...ctx.state.breakpoints].sort((a, b) => a - b);
      ctx.print(all.length ? `breakpoints after layers ${all.join(' ')}` : 'no breakpoints');
    },
  },
  {
    name: 'delete',
    usage: 'delete [L ...]',
    help: 'disarm the breakpoints after layers L (all without layers)',
    completes: 'layers',
    run(args, ctx) {
      if (args.length === 0) ctx.state.breakpoints.clear();
      for (const a of args) {
        const l = layerArg(a, ctx);
        if (!ctx.state.breakpoints.delete(l)) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `no breakpoint after layer ${l}`);
      }
      const all = [...ctx.state.breakpoints].sort((a, b) => a - b);
      ctx.print(all.length ? `breakpoints after layers ${all.join(' ')}` : 'no breakpoints');
    },
  },
  {
    name: 'run',
    usage: 'run IDS | "text"',
    help: 'start a forward pass of the current session (ids 3,17,42 or a quoted text through tokenizer.json); stops at the first armed layer',
    interrupt: STOPS_STEP,
    async run(_args, ctx, rest) {
      const { state } = ctx;
      if (state.plan?.slot) throw new VramlabError('VL_ERR_STATE', 'a plan step is paused: next to go on, or open another plan');
      const slot = state.slot();
      if (slot.paused) throw new VramlabError('VL_ERR_STATE', `the session is paused after layer ${slot.paused.layer}: continue or abort that step first`);
      const ids = parseIdsText(rest, ctx);
      slot.stepMs = 0;
      await state.drive(slot, () => slot.session.forward(ids, { logits: 'all', breakpoints: 'all' }), false);
      report(ctx, slot);
    },
  },
  { name: 'continue', aliases: ['c'], usage: 'continue', help: 'run to the next armed layer, or to the end (then the top next tokens)', interrupt: STOPS_STEP, run: (_a, ctx) => advance(ctx, false) },
  { name: 'step', aliases: ['s'], usage: 'step', help: 'run one layer on', interrupt: STOPS_STEP, run: (_a, ctx) => advance(ctx, true) },
  {
    name: 'abort',
    usage: 'abort',
    help: 'drop the paused step: the KV cache is as before it',
    run(_a, ctx) {
      if (ctx.state.plan?.slot) throw new VramlabError('VL_ERR_STATE', "a plan's pause is the plan's: next goes on with it");
      const slot = ctx.state.slot();
      ctx.state.needPaused('abort').abort();
      ctx.state.dropPause(slot);
      ctx.print(`aborted; the session holds ${slot.session.tokens} tokens`);
    },
  },
  {
    name: 'stats',
    usage: 'stats [pos]',
    help: 'the paused activation: shape, mean, std, min, max, NaN/Inf count, L2 norm per position (or of one)',
    run(args, ctx) {
      const p = ctx.state.needPaused('stats');
      const pos = posArg(args[0], ctx);
      const rows = pos === null ? Array.from({ length: p.tokens }, (_, i) => i) : [pos];
      for (const l of formatStats(activationStats(p.activation(), p.hidden, rows), pos ?? 0)) ctx.print(l);
    },
  },
  {
    name: 'top',
    usage: 'top [k]',
    help: 'the top-k next tokens (default 5) of the last completed pass, with probabilities',
    run(args, ctx) {
      const l = ctx.state.needLogits();
      printTop(ctx, l.row(l.rows - 1), topArg(args[0], 'top', l.vocab));
    },
  },
  {
    name: 'lens',
    usage: 'lens [k]',
    help: 'the logit lens at the paused layer: final norm and output head on the paused residual, top-k',
    async run(args, ctx) {
      const p = ctx.state.needPaused('lens');
      const k = topArg(args[0], 'lens', ctx.state.slot().session.model.shape.vocabSize);
      const l = await p.lens();
      ctx.print(`logit lens after layer ${p.layer}, last position:`);
      printTop(ctx, l.row(0), k);
    },
  },
  { name: 'scale', usage: 'scale S', help: 'multiply the paused activation by S', run: (a, ctx) => edit(ctx, { kind: 'scale', s: numberArg(a[0], 'scale') }) },
  {
    name: 'add',
    usage: 'add FILE|a,b,c',
    help: 'add a vector of hidden floats (a JSON or .npy file, or a,b,c) at every position',
    completes: 'files',
    run: (a, ctx) => {
      if (!a[0]) throw usage('usage: add FILE|a,b,c');
      return edit(ctx, { kind: 'add', v: readVector(a[0], 'the vector'), from: a[0].length > 24 ? `${a[0].slice(0, 21)}...` : a[0] });
    },
  },
  {
    name: 'set',
    usage: 'set FILE',
    help: 'replace the whole activation (tokens x hidden floats from a JSON or .npy file)',
    completes: 'files',
    run: (a, ctx) => {
      if (!a[0]) throw usage('usage: set FILE');
      return edit(ctx, { kind: 'set', values: readValues(a[0], 'the activation'), from: a[0] });
    },
  },
  { name: 'zero', usage: 'zero [pos]', help: 'zero the activation (at one position)', run: (a, ctx) => edit(ctx, { kind: 'zero', pos: posArg(a[0], ctx) }) },
  {
    name: 'undo',
    usage: 'undo',
    help: 'undo the last edit at this pause',
    run(_a, ctx) {
      const slot = ctx.state.slot();
      const p = ctx.state.needPaused('undo');
      const last = slot.edits.pop();
      if (!last || !slot.base) throw new VramlabError('VL_ERR_STATE', 'no edits to undo at this pause');
      p.setActivation(slot.base);
      for (const e of slot.edits) applyEdit(ctx, e, false);
      ctx.print(`undone: ${describe(last)}`);
    },
  },
  {
    name: 'edits',
    usage: 'edits',
    help: 'the edits made at this pause (applied at the resume)',
    run(_a, ctx) {
      const slot = ctx.state.slot();
      ctx.state.needPaused('edits');
      if (slot.edits.length === 0) ctx.print('no edits');
      slot.edits.forEach((e, i) => ctx.print(`${i + 1}. ${describe(e)}`));
    },
  },
  {
    name: 'save',
    usage: 'save activation|logits FILE',
    help: 'write the paused activation (rows x hidden) or the last logits (rows x vocab) as JSON, or .npy',
    completes: 'save',
    run(args, ctx) {
      const [what, file] = args;
      if ((what !== 'activation' && what !== 'logits') || !file) throw usage('usage: save activation|logits FILE');
      if (what === 'activation') {
        const p = ctx.state.needPaused('save activation');
        saveMatrix(file, 'activation', p.activation(), p.tokens, p.hidden);
        ctx.print(`saved the activation after layer ${p.layer} (${p.tokens} x ${p.hidden}) to ${file}`);
      } else {
        const l = ctx.state.needLogits();
        saveMatrix(file, 'logits', l.data, l.rows, l.vocab);
        ctx.print(`saved the logits (${l.rows} x ${l.vocab}) to ${file}`);
      }
    },
  },
  {
    name: 'sessions',
    usage: 'sessions',
    help: "the model's sessions: tokens, state",
    run(_a, ctx) {
      const { state } = ctx;
      state.needModel();
      state.sessions.forEach((s, i) => ctx.print(`${i === state.current ? '*' : ' '} ${i}  ${s.session.tokens} tokens  ${s.paused ? `paused after layer ${s.paused.layer}` : 'idle'}`));
    },
  },
  {
    name: 'session',
    usage: 'session new | session N',
    help: 'make a new session (and switch to it), or switch to session N; a paused one stays paused',
    completes: 'sessions',
    run(args, ctx) {
      const { state } = ctx;
      state.needModel();
      if (args[0] === 'new') state.current = state.newSession();
      else {
        const n = Number(args[0]);
        if (args[0] === undefined || !/^\d+$/.test(args[0]) || n >= state.sessions.length)
          throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `bad session "${args[0] ?? ''}": use session new or 0..${state.sessions.length - 1}`);
        state.current = n;
      }
      ctx.print(`session ${state.current}`);
    },
  },
  {
    name: 'mem',
    usage: 'mem',
    help: "the VRAM budget, device and host use, each session's KV residency",
    run(_a, ctx) {
      const { state } = ctx;
      const model = state.needModel();
      const m = (state.rt as Runtime).memory();
      ctx.print(`device  ${formatSize(m.current)} in use (peak ${formatSize(m.peak)}) of a ${formatSize(m.budget)} budget`);
      ctx.print(`host    ${formatSize(m.hostCurrent)} pinned (peak ${formatSize(m.hostPeak)})`);
      const info = model.info();
      ctx.print(`model   ${formatSize(info.residentBytes)} resident, ${formatSize(info.hostBytes)} in host memory; KV pool ${info.kvPoolBlocks - info.kvFreeBlocks}/${info.kvPoolBlocks} blocks of ${info.kvBlockTokens} tokens used`);
      state.sessions.forEach((s, i) => {
        const r = s.session.residency();
        ctx.print(`session ${i}  ${s.session.tokens} tokens, ${r.blocks} blocks: ${r.deviceBlocks} on the device, ${r.hostBlocks} in host memory`);
      });
    },
  },
  {
    name: 'timeline',
    usage: 'timeline',
    help: "the last pass's per-layer compute (and copy) times, in device time from its start (a paused pass's waits left out)",
    run(_a, ctx) {
      const slot = ctx.state.slot();
      if (slot.paused) throw new VramlabError('VL_ERR_STATE', 'the step is paused: its timeline is ready when it ends (continue)');
      const st = slot.session.lastStep();
      ctx.print(`last pass: ${st.tokens} tokens, ${ms(st.wallMs)} wall${st.deviceMs === null ? '' : `, ${ms(st.deviceMs)} device`}`);
      for (const t of st.timeline)
        ctx.print(`layer ${String(t.layer).padStart(3)}  compute ${ms(t.computeEndMs - t.computeStartMs).padStart(9)} (at ${t.computeStartMs.toFixed(2)})${t.copyStartMs === null || t.copyEndMs === null ? '' : `  copy ${ms(t.copyEndMs - t.copyStartMs)}`}`);
    },
  },
  ...PLAN_COMMANDS,
  {
    name: 'help',
    usage: 'help [command]',
    help: 'the commands, or one',
    run(args, ctx) {
      if (args[0]) {
        const c = findCommand(args[0]);
        if (!c) throw usage(`no command "${args[0]}"${suggest(args[0], commandWords())} (help lists them)`);
        ctx.print(`${c.usage}${c.aliases ? `  (also ${c.aliases.join(', ')})` : ''}`);
        ctx.print(`  ${c.help}`);
        return;
      }
      for (const c of COMMANDS) ctx.print(`${c.usage.padEnd(34)} ${c.help}`);
      ctx.print('anything else is JavaScript (top-level await; rt, model, session, paused, logits bound; declarations persist)');
    },
  },
];

async function edit(ctx: CommandContext, e: Edit): Promise<void> {
  applyEdit(ctx, e);
  ctx.print(`edit ${ctx.state.slot().edits.length}: ${describe(e)} (applied at the resume)`);
}

export function findCommand(word: string): Command | undefined {
  return COMMANDS.find((c) => c.name === word || c.aliases?.includes(word));
}

/** Every word that names a command (its name and aliases), and quit. */
export function commandWords(): string[] {
  return [...COMMANDS.flatMap((c) => [c.name, ...(c.aliases ?? [])]), 'quit'];
}
