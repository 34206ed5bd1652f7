// runner.ts: runs a Plan (plan.ts) on the runtime and returns its results: per experiment, the
// evidence of the run (device, commit, date, budget, model shape, the correctness check) and one row
// per measured run, in the seeds' shapes. Cancelling (an AbortSignal: Ctrl-C in the CLI) or the
// experiment's time limit stops between runs and keeps the rows so far.
//
//   const result = await runPlan(plan, { onProgress: (p) => console.log(p.done, '/', p.total, p.label) });
//   result.experiments[0].rows   // [{ baseline: 'kv-cache', run_id: 0, per_token_ms: 3.1, ... }, ...]
import { execFileSync } from 'node:child_process';
import { VramlabError } from '../runtime/errors.js';
import { packageRoot } from '../runtime/native.js';
import { Paused } from '../runtime/breakpoint.js';
import type { Steer } from '../runtime/types.js';
import type { BreakpointStep, CopyStep, DecodeStep, EditPlan, ExperimentPlan, LoadPlan, Measure, Plan, PromptPlan, ReferenceStep, SteerStep, Step, StreamStep } from './plan.js';
import type { ResultRow } from './result-files.js';
import { Logits } from '../runtime/logits.js';
import { type Model, Runtime } from '../runtime/runtime.js';
import type { StepStats } from '../runtime/types.js';
import type { ModelShape } from '../runtime/synthetic.js';

export interface RunProgress {
  experiment: string;
  /** Runs done (warm-ups included) and to do, over the whole plan. */
  done: number;
  total: number;
  /** What is running: "decode kv-cache prompt=72 run 2/3". */
  label: string;
}

export interface RunOptions {
  /** Aborting stops the run between two runs (or decode steps) and keeps the rows so far. */
  signal?: AbortSignal;
  onProgress?: (p: RunProgress) => void;
}

/** One experiment's results: the evidence of the run and its rows. */
export interface ExperimentResult {
  benchmark: Measure;
  experiment: string;
  file: string;
  device: string;
  commit: string;
  date: string;
  /** The VRAM budget of the first step's runtime, in bytes (the device's memory when none was set). */
  budget_bytes: number | null;
  model: string | null;
  model_shape: ModelShape | null;
  weight_bytes: number | null;
  repeat: number;
  warmup: number;
  /** The run's correctness check where the measure has one (see each op), null otherwise. */
  check: { what: string; tolerance: number; pass: boolean; worst: number | null } | null;
  /** Null when every step ran; "cancelled" or "time_limit" when the run stopped early. */
  stopped: 'cancelled' | 'time_limit' | null;
  /** Pinned and pageable host-to-device bandwidth probed in the same run (streaming). */
  pinned_h2d_gbps?: number;
  pageable_h2d_gbps?: number;
  rows: ResultRow[];
}

export interface RunResult {
  file: string;
  experiments: ExperimentResult[];
  /** True when the signal stopped the run (the experiments so far are in `experiments`). */
  cancelled: boolean;
}

class Stop extends Error {
  constructor(readonly why: 'cancelled' | 'time_limit') {
    super(why);
  }
}

/** The commit the results come from: VRAMLAB_COMMIT, or git's HEAD of the package (with "-dirty"). */
export function currentCommit(): string {
  const env = process.env['VRAMLAB_COMMIT'];
  if (env) return env;
  try {
    const root = packageRoot();
    const head = execFileSync('git', ['-C', root, 'rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${head}-dirty` : head;
  } catch {
    return 'unknown';
  }
}

/** A seeded 32-bit generator (mulberry32): prompts and random vectors are the same on every run. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The ids of a prompt for a model of `vocab` tokens. */
export function promptIds(p: PromptPlan, vocab: number): number[] {
  if ('ids' in p) return p.ids;
  const next = generator(p.seed);
  return Array.from({ length: p.tokens }, () => Math.floor(next() * vocab));
}

/** A seeded random direction of L2 norm `norm` (Gaussian components, Box-Muller). */
export function randomVector(hidden: number, norm: number, seed: number): Float32Array {
  const next = generator(seed);
  const v = new Float32Array(hidden);
  let sum = 0;
  for (let i = 0; i < hidden; i++) {
    const x = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
    v[i] = x;
    sum += x * x;
  }
  const k = norm / Math.sqrt(sum);
  for (let i = 0; i < hidden; i++) v[i] = (v[i] as number) * k;
  return v;
}

/** ||a - b|| / ||b|| */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += ((a[i] as number) - (b[i] as number)) ** 2;
    den += (b[i] as number) ** 2;
  }
  return den === 0 ? (num === 0 ? 0 : Infinity) : Math.sqrt(num / den);
}

/** The vector an edit adds, if any. */
export function addVector(e: EditPlan, hidden: number): Float32Array | null {
  if (!e.add) return null;
  return 'norm' in e.add ? randomVector(hidden, e.add.norm, e.add.seed) : Float32Array.from(e.add.values);
}

/** The steer entry of an edit (scale and add; replace has none). */
function steerOf(layer: number, e: EditPlan | null, hidden: number): Steer | null {
  if (!e || (e.scale === undefined && !e.add)) return null;
  const steer: Steer = { layer };
  if (e.scale !== undefined) steer.scale = e.scale;
  const add = addVector(e, hidden);
  if (add) steer.add = add;
  return steer;
}

function argmax(xs: Float32Array): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if ((xs[i] as number) > (xs[best] as number)) best = i;
  return best;
}

function paused(r: Logits | Paused): Paused {
  if (!(r instanceof Paused)) throw new VramlabError('VL_ERR_INTERNAL', 'the step did not pause at its breakpoint');
  return r;
}

function finished(r: Logits | Paused): Logits {
  if (r instanceof Paused) throw new VramlabError('VL_ERR_INTERNAL', `the step paused again after layer ${r.layer}`);
  return r;
}

/** "scale 0.9, add random(norm 4, seed 1)" */
export function describeEdit(e: EditPlan | null): string | null {
  if (!e) return null;
  const parts: string[] = [];
  if (e.scale !== undefined) parts.push(`scale ${e.scale}`);
  if (e.add) parts.push('norm' in e.add ? `add random(norm ${e.add.norm}, seed ${e.add.seed})` : `add a vector of ${e.add.values.length}`);
  if (e.replace) parts.push(`replace with the activation of ${'tokens' in e.replace ? `${e.replace.tokens} tokens (seed ${e.replace.seed})` : (e.replace.text ?? `ids ${e.replace.ids.join(' ')}`)}`);
  return parts.join(', ');
}

function mean(xs: number[]): number | null {
  return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
}

function pointLabel(s: Step): string {
  return Object.entries(s.point)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

/** The runtime and model of the steps in progress; reused while consecutive steps load the same. */
class Loaded {
  constructor(
    readonly key: string,
    readonly rt: Runtime,
    readonly model: Model,
  ) {}
}

/** Runs one experiment's steps; rows go to `result.rows` as they are measured. */
class ExperimentRun {
  readonly result: ExperimentResult;
  #loaded: Loaded | null = null;
  #probeRt: Runtime | null = null;
  /** What runs are checked against, by step and point: logits, tokens, patch activations. */
  readonly #reference = new Map<string, Float32Array | number[]>();
  /** steering: the unsteered generation of each prompt. */
  readonly #plain = new Map<string, { first: Float32Array; tokens: number[] }>();
  readonly #deadline: number;
  #worst: number | null = null;
  #pass = true;
  #compared = false;

  constructor(
    readonly plan: ExperimentPlan,
    file: string,
    commit: string,
    readonly options: RunOptions,
    readonly progress: () => void,
  ) {
    this.#deadline = plan.timeLimitMs === null ? Infinity : performance.now() + plan.timeLimitMs;
    this.result = {
      benchmark: plan.measure,
      experiment: plan.name,
      file,
      device: plan.device,
      commit,
      date: new Date().toISOString(),
      budget_bytes: null,
      model: plan.model,
      model_shape: null,
      weight_bytes: null,
      repeat: plan.repeat,
      warmup: plan.warmup,
      check: null,
      stopped: null,
      rows: [],
    };
  }

  /** Throws Stop when cancelled or past the time limit. */
  checkpoint(): void {
    if (this.options.signal?.aborted) throw new Stop('cancelled');
    if (performance.now() > this.#deadline) throw new Stop('time_limit');
  }

  /** The runtime of copy steps and the probe: the device with no budget. */
  async #probe(): Promise<Runtime> {
    this.#probeRt ??= await Runtime.open({ device: this.plan.device });
    this.#noteDevice(this.#probeRt, this.plan.measure === 'copy_bandwidth');
    return this.#probeRt;
  }

  /** Records the device's name and, from the runtime of the first measured step, its budget. */
  #noteDevice(rt: Runtime, measured: boolean): void {
    if (this.result.device === this.plan.device) this.result.device = rt.deviceName();
    if (measured) this.result.budget_bytes ??= rt.memory().budget;
  }

  async #model(load: LoadPlan, reference = false): Promise<Loaded> {
    const key = JSON.stringify(load);
    if (this.#loaded?.key === key) return this.#loaded;
    this.#unload();
    const rt = await Runtime.open({ device: this.plan.device, budget: load.budget ?? undefined });
    try {
      const model = await rt.loadModel(load.model, {
        placement: load.placement,
        ring: load.ring ?? undefined,
        prefetch: load.prefetch ?? undefined,
        kvPoolTokens: load.kvPoolTokens,
        kvBlockTokens: load.kvBlockTokens,
      });
      this.#loaded = new Loaded(key, rt, model);
    } catch (e) {
      rt.dispose();
      throw e;
    }
    this.#noteDevice(rt, !reference);
    const info = this.#loaded.model.info();
    this.result.model_shape ??= info.shape;
    this.result.weight_bytes ??= info.weightBytes;
    return this.#loaded;
  }

  #unload(): void {
    this.#loaded?.rt.dispose();
    this.#loaded = null;
  }

  dispose(): void {
    this.#unload();
    this.#probeRt?.dispose();
    this.#probeRt = null;
  }

  #checked(err: number | null): void {
    if (err === null) return;
    this.#compared = true;
    this.#worst = Math.max(this.#worst ?? 0, err);
    if (!(err <= this.plan.tolerance)) this.#pass = false;
  }

  #tokensChecked(match: boolean | null): void {
    if (match === null) return;
    this.#compared = true;
    if (!match) this.#pass = false;
  }

  /** Records the correctness check when at least one run was compared. */
  finishCheck(what: string | null): void {
    if (what && this.#compared) this.result.check = { what, tolerance: this.plan.tolerance, pass: this.#pass, worst: this.#worst };
  }

  /** Keeps the step's parameters, the plan's metrics and the status. */
  #row(params: ResultRow, metrics: ResultRow, status = 'ok'): ResultRow {
    const row: ResultRow = { ...params };
    for (const m of this.plan.metrics) row[m] = metrics[m] ?? null;
    row['status'] = status;
    return row;
  }

  /** Runs warm-ups and measured runs of one step; a runtime error becomes a row with its status. */
  async step(s: Step): Promise<void> {
    const runs = s.op === 'reference' ? 1 : this.plan.warmup + this.plan.repeat;
    for (let i = 0; i < runs; i++) {
      this.checkpoint();
      const measured = s.op !== 'reference' && i >= this.plan.warmup;
      const runId = i - this.plan.warmup;
      const label = `${this.plan.name}: ${s.op}${'baseline' in s ? ` ${s.baseline}` : ''}${pointLabel(s) ? ` ${pointLabel(s)}` : ''}${s.op === 'reference' ? '' : measured ? ` run ${runId + 1}/${this.plan.repeat}` : ' warm-up'}`;
      this.options.onProgress?.({ experiment: this.plan.name, done: 0, total: 0, label });
      try {
        const out = await this.#once(s);
        if (measured && out) this.result.rows.push(this.#row({ ...this.#params(s), run_id: runId }, out));
      } catch (e) {
        if (e instanceof Stop || !(e instanceof VramlabError)) throw e;
        // The step cannot run (out of memory, unsupported): one row says so; the plan goes on.
        this.result.rows.push(this.#row({ ...this.#params(s), run_id: null }, {}, e.code === 'VL_ERR_OUT_OF_MEMORY' ? 'out_of_memory' : `error: ${e.message}`));
        this.#unload();
        this.progress();
        for (let k = i + 1; k < runs; k++) this.progress();
        return;
      }
      this.progress();
    }
  }

  #params(s: Step): ResultRow {
    const info = this.#loaded?.model.info();
    const prompt = (p: PromptPlan) => ('tokens' in p ? p.tokens : p.ids.length);
    switch (s.op) {
      case 'copy':
        return { baseline: s.baseline, bytes: s.bytes, copies: s.copies };
      case 'reference':
        return {};
      case 'stream':
        return { placement: s.baseline, budget_bytes: s.load.budget, ring_bytes: info?.ringBytes ?? s.load.ring, prefetch: info && s.baseline !== 'resident' ? info.prefetch : s.load.prefetch, prompt_tokens: prompt(s.prompt), new_tokens: s.newTokens };
      case 'decode':
        return { baseline: s.baseline, placement: s.load.placement, budget_bytes: s.load.budget, kv_pool_tokens: s.load.kvPoolTokens, prompt_tokens: prompt(s.prompt), new_tokens: s.newTokens, sessions: s.sessions };
      case 'breakpoint':
        return { baseline: s.baseline, layer: s.layer, placement: s.load.placement, prompt_tokens: prompt(s.prompt), edit: describeEdit(s.edit) };
      case 'steer':
        return { layer: s.layer, scale: s.edit.scale ?? null, edit: describeEdit(s.edit), placement: s.load.placement, prompt_tokens: prompt(s.prompt), new_tokens: s.newTokens };
    }
  }

  /** One run of a step: its metrics (null for a reference run). */
  async #once(s: Step): Promise<ResultRow | null> {
    switch (s.op) {
      case 'copy':
        return this.#copy(s);
      case 'reference':
        return this.#referenceRun(s);
      case 'stream':
        return this.#stream(s);
      case 'decode':
        return this.#decode(s);
      case 'breakpoint':
        return this.#breakpoint(s);
      case 'steer':
        return this.#steer(s);
    }
  }

  /** The activation of another prompt after `layer` (for replace), taken once per step. */
  async #patch(model: Model, prompt: PromptPlan, layer: number): Promise<Float32Array> {
    const key = JSON.stringify(['patch', prompt, layer]);
    const held = this.#reference.get(key);
    if (held instanceof Float32Array) return held;
    const session = model.createSession();
    try {
      const p = paused(await session.forward(promptIds(prompt, model.shape.vocabSize), { breakpoints: [layer] }));
      const a = p.activation().slice();
      p.abort();
      this.#reference.set(key, a);
      return a;
    } finally {
      session.dispose();
    }
  }

  async #applyEdit(p: Paused, edit: EditPlan | null, model: Model, layer: number): Promise<void> {
    if (!edit) return;
    if (edit.replace) p.setActivation(await this.#patch(model, edit.replace, layer));
    if (edit.scale !== undefined) p.scale(edit.scale);
    if (edit.add) p.add(addVector(edit, model.shape.hiddenSize) as Float32Array);
  }

  /**
   * A prefill paused after `layer`, edited and finished: resume continues from the held state,
   * offload brings the state back from host memory, recompute drops it and re-runs the tokens to the
   * breakpoint. resume_ms: the resume's own cost, host enqueue plus the device's restore (with the
   * re-run for recompute);
   * to_logits_ms: -> logits on the host. The logits are checked against an uninterrupted pass with
   * the same edit made by `steer` (none for replace).
   */
  async #breakpoint(s: BreakpointStep): Promise<ResultRow> {
    const { model } = await this.#model(s.load);
    const ids = promptIds(s.prompt, model.shape.vocabSize);
    const refKey = JSON.stringify(['breakpoint', s.point, s.prompt, s.layer, s.edit]);
    const session = model.createSession();
    try {
      if (!this.#reference.has(refKey) && !s.edit?.replace) {
        const steer = steerOf(s.layer, s.edit, model.shape.hiddenSize);
        const whole = (steer ? await session.forward(ids, { steer: [steer] }) : await session.forward(ids)) as Logits;
        this.#reference.set(refKey, whole.data.slice());
        session.reset();
      }
      let p = paused(await session.forward(ids, { breakpoints: [s.layer], offload: s.baseline === 'offload' }));
      await this.#applyEdit(p, s.edit, model, s.layer);
      p.stats(); // waits for the device to reach the pause: the resume is timed from the held state
      let backMs = 0;
      if (s.baseline === 'recompute') {
        const t0 = performance.now();
        p.abort();
        p = paused(await session.forward(ids, { breakpoints: [s.layer] }));
        await this.#applyEdit(p, s.edit, model, s.layer);
        p.stats(); // the re-run has reached the pause
        backMs = performance.now() - t0;
      }
      const out = finished(await p.resume());
      const st = p.stats();
      const ref = this.#reference.get(refKey);
      const err = ref instanceof Float32Array ? relativeError(out.data, ref) : null;
      this.#checked(err);
      return {
        resume_ms: backMs + st.restoreMs,
        to_logits_ms: backMs + st.toLogitsMs,
        pause_ms: st.pauseMs,
        bytes_moved: st.bytesMoved,
        logit_rel_err: err,
        token_match: ref instanceof Float32Array ? argmax(out.data) === argmax(ref) : null,
      };
    } finally {
      session.dispose();
    }
  }

  /** Greedy tokens and the first logits of a prompt, with `steer` at every step or without. */
  async #generate(model: Model, ids: number[], newTokens: number, steer: Steer | null): Promise<{ first: Float32Array; tokens: number[]; stepsMs: number[] }> {
    const session = model.createSession();
    const opts = steer ? { steer: [steer] } : {};
    try {
      let logits = (await session.forward(ids, opts)) as Logits;
      const first = logits.data.slice();
      const tokens = [logits.argmax()];
      const stepsMs: number[] = [];
      for (let t = 1; t < newTokens; t++) {
        this.checkpoint();
        const t0 = performance.now();
        logits = (await session.forward([tokens[tokens.length - 1] as number], opts)) as Logits;
        stepsMs.push(performance.now() - t0);
        tokens.push(logits.argmax());
      }
      return { first, tokens, stepsMs };
    } finally {
      session.dispose();
    }
  }

  /**
   * Greedy decoding with the layer's output edited at every step (forward's `steer`) against the
   * same without: how much the first logits move, whether the top token changes, how many tokens
   * agree. Checked against the same edit made by pausing, editing and resuming the prefill.
   */
  async #steer(s: SteerStep): Promise<ResultRow> {
    const { model } = await this.#model(s.load);
    const ids = promptIds(s.prompt, model.shape.vocabSize);
    const steer = steerOf(s.layer, s.edit, model.shape.hiddenSize) as Steer;
    const plainKey = JSON.stringify(['plain', s.prompt, s.newTokens]);
    const plain = this.#plain.get(plainKey) ?? (await this.#generate(model, ids, s.newTokens, null));
    this.#plain.set(plainKey, plain);
    const steered = await this.#generate(model, ids, s.newTokens, steer);
    const session = model.createSession();
    let viaPause: Float32Array;
    try {
      const p = paused(await session.forward(ids, { breakpoints: [s.layer] }));
      await this.#applyEdit(p, s.edit, model, s.layer);
      viaPause = finished(await p.resume()).data;
    } finally {
      session.dispose();
    }
    const err = relativeError(steered.first, viaPause);
    this.#checked(err);
    const agree = steered.tokens.filter((t, i) => t === plain.tokens[i]).length;
    return {
      output_change: relativeError(steered.first, plain.first),
      top1_changed: argmax(steered.first) !== argmax(plain.first),
      token_agreement: steered.tokens.length > 0 ? agree / steered.tokens.length : null,
      per_token_ms: mean(steered.stepsMs),
      logit_rel_err: err,
    };
  }

  async #copy(s: CopyStep): Promise<ResultRow> {
    const rt = await this.#probe();
    return { bandwidth_gbps: await rt.copyBandwidth({ bytes: s.bytes, pinned: s.baseline === 'pinned', reps: s.copies }) };
  }

  async #referenceRun(s: ReferenceStep): Promise<null> {
    const { model } = await this.#model(s.load, true);
    const session = model.createSession();
    try {
      const logits = (await session.forward(promptIds(s.prompt, model.shape.vocabSize))) as Logits;
      this.#reference.set(JSON.stringify(s.prompt), logits.data.slice());
    } finally {
      session.dispose();
    }
    this.#unload();
    return null;
  }

  /** Prefill, then greedy decode steps until newTokens tokens are out; the stats of every pass. */
  async #stream(s: StreamStep): Promise<ResultRow> {
    const { rt, model } = await this.#model(s.load);
    const session = model.createSession();
    const steps: StepStats[] = [];
    let first: Float32Array;
    try {
      let logits = (await session.forward(promptIds(s.prompt, model.shape.vocabSize))) as Logits;
      first = logits.data.slice();
      steps.push(session.lastStep());
      for (let t = 1; t < s.newTokens; t++) {
        this.checkpoint();
        logits = await session.decode(logits.argmax());
        steps.push(session.lastStep());
      }
    } finally {
      session.dispose();
    }
    const sum = (xs: StepStats[], f: (x: StepStats) => number) => xs.reduce((a, x) => a + f(x), 0);
    const bytes = sum(steps, (x) => x.h2dBytes);
    const wall = sum(steps, (x) => x.wallMs);
    const decode = steps.slice(1);
    const ref = this.#reference.get(JSON.stringify(s.prompt));
    const err = ref instanceof Float32Array ? relativeError(first, ref) : null;
    this.#checked(err);
    return {
      effective_bandwidth_gbps: wall > 0 ? bytes / wall / 1e6 : null,
      decode_bandwidth_gbps: decode.length > 0 && sum(decode, (x) => x.wallMs) > 0 ? sum(decode, (x) => x.h2dBytes) / sum(decode, (x) => x.wallMs) / 1e6 : null,
      latency_ms: wall,
      prefill_ms: steps[0]?.wallMs ?? null,
      decode_ms_per_token: mean(decode.map((x) => x.wallMs)),
      bytes_streamed: bytes,
      resident_layers: model.info().residentLayers,
      peak_vram_gb: rt.memory().peak / 1e9,
      logit_rel_err: err,
      logit_match: err === null ? null : err <= this.plan.tolerance,
    };
  }

  /**
   * `sessions` sessions generate newTokens tokens each, round robin: the first from the prefill, the
   * rest from decode steps (kv-cache) or from a forward pass over the whole prefix (stateless).
   */
  async #decode(s: DecodeStep): Promise<ResultRow> {
    const { rt, model } = await this.#model(s.load);
    const prompt = promptIds(s.prompt, model.shape.vocabSize);
    const sessions = Array.from({ length: s.sessions }, () => model.createSession());
    const tokens: number[][] = sessions.map(() => []);
    const prefills: number[] = [];
    const stepsMs: number[] = [];
    let h2d = 0;
    const t0 = performance.now();
    try {
      for (const [k, session] of sessions.entries()) {
        this.checkpoint();
        const t = performance.now();
        const logits = (await session.forward(prompt)) as Logits;
        prefills.push(performance.now() - t);
        tokens[k]!.push(logits.argmax());
      }
      for (let n = 1; n < s.newTokens; n++) {
        for (const [k, session] of sessions.entries()) {
          this.checkpoint();
          const mine = tokens[k] as number[];
          const t = performance.now();
          let logits: Logits;
          if (s.baseline === 'kv-cache') logits = await session.decode(mine[mine.length - 1] as number);
          else {
            session.reset();
            logits = (await session.forward([...prompt, ...mine])) as Logits;
          }
          stepsMs.push(performance.now() - t);
          h2d += session.lastStep().h2dBytes;
          mine.push(logits.argmax());
        }
      }
    } finally {
      for (const session of sessions) session.dispose();
    }
    const total = performance.now() - t0;
    const key = JSON.stringify([s.point, s.prompt, s.newTokens, s.sessions]);
    const ref = this.#reference.get(key);
    let match: boolean | null = null;
    if (ref === undefined) this.#reference.set(key, tokens.flat());
    else match = JSON.stringify(ref) === JSON.stringify(tokens.flat());
    this.#tokensChecked(match);
    return {
      per_token_ms: mean(stepsMs),
      prefill_ms: mean(prefills),
      total_ms: total,
      tokens_generated: tokens.flat().length,
      h2d_bytes_per_token: stepsMs.length > 0 ? h2d / stepsMs.length : null,
      peak_vram_gb: rt.memory().peak / 1e9,
      token_match: match,
    };
  }

  /** streaming: the pinned and pageable copy bandwidth of the machine, measured in the same run. */
  async probe(bytes: number): Promise<void> {
    const rt = await this.#probe();
    this.result.pinned_h2d_gbps = await rt.copyBandwidth({ bytes, pinned: true, reps: 5 });
    this.result.pageable_h2d_gbps = await rt.copyBandwidth({ bytes, pinned: false, reps: 3 });
  }
}

/** What each measure's correctness check compares. */
const CHECKS: Readonly<Record<Measure, string | null>> = {
  copy_bandwidth: null,
  streaming: 'logits of the prefill against a resident run without a budget (relative L2 error)',
  decode: 'greedy tokens of every baseline and run against the first run of the same point',
  breakpoints: 'logits after pause, edit and resume against an uninterrupted pass with the same edit (relative L2 error)',
  steering: 'steered logits through forward({ steer }) against pause, edit and resume (relative L2 error)',
};

/** Runs every experiment of a plan in order; stops early (keeping the results so far) on the signal. */
export async function runPlan(plan: Plan, options: RunOptions = {}): Promise<RunResult> {
  const commit = currentCommit();
  const total = plan.experiments.reduce((a, e) => a + e.steps.reduce((b, s) => b + (s.op === 'reference' ? 1 : e.warmup + e.repeat), 0) + (e.probeBytes === null ? 0 : 1), 0);
  let done = 0;
  let label = '';
  const report = (experiment: string) => options.onProgress?.({ experiment, done, total, label });
  const out: RunResult = { file: plan.file, experiments: [], cancelled: false };
  for (const e of plan.experiments) {
    const run = new ExperimentRun(e, plan.file, commit, { signal: options.signal, onProgress: (p) => ((label = p.label), report(e.name)) }, () => (done++, report(e.name)));
    out.experiments.push(run.result);
    try {
      if (e.probeBytes !== null) {
        run.checkpoint();
        label = `${e.name}: copy bandwidth probe`;
        report(e.name);
        await run.probe(e.probeBytes);
        done++;
        report(e.name);
      }
      for (const s of e.steps) await run.step(s);
    } catch (err) {
      if (!(err instanceof Stop)) throw err;
      run.result.stopped = err.why;
      if (err.why === 'cancelled') out.cancelled = true;
    } finally {
      run.finishCheck(CHECKS[e.measure]);
      run.dispose();
    }
    if (out.cancelled) break;
  }
  return out;
}
