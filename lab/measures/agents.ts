// agents.ts: the agents measure (seed 004, experiment 2.2: agent scaling). N agents each run
// `iterations` cycles of reason (the prompt, or its last token, then `new_tokens` greedy tokens), act
// (sleep `act`) and reflect (append an `observation`-token observation, decode `new_tokens` more on the
// same context); they start spread evenly over one act period, on each of three systems side by side
// (shared, keep-alive, serverless: lab/measures/agents-systems.ts).
import { VramlabError } from '../../runtime/errors.js';
import type { Model } from '../../runtime/runtime.js';
import type { StepReport } from '../../runtime/scheduler.js';
import { promptIds, sessionPrompt } from '../inputs.js';
import type { Measure, StepContext } from '../measure.js';
import { type LoadPlan, modelOptions, promptTokens } from '../plan.js';
import type { ResultRow } from '../results.js';
import { BASELINES_SETTING, MODEL_SETTINGS, NEW_TOKENS_SETTING } from '../settings.js';
import { quantileOrNull as p } from '../stats.js';
import { agentsFigures } from './agents-figures.js';
import { STEP_METRICS, stepMetrics, stepRows } from './agents-steps.js';
import { agentContext, type AgentsStep, type AgentSystem, keepAlive, serverless, shared, sharedScheduler, type System, warmUp, type Work } from './agents-systems.js';

export { agentContext, type AgentsStep, type AgentSystem } from './agents-systems.js';

/** What an agent did, in order: [kind (0 reason, 1 act, 2 reflect), start ms, end ms, first token ms]. */
type Phase = [number, number, number, number | null];

const PARAMETERS = ['budget_bytes', 'prompt_tokens', 'new_tokens', 'observation_tokens', 'act_ms', 'iterations', 'prefill_chunk', 'agents'];

/**
 * The tokens/s of a system whose steps take no time: every agent's tokens over the acting alone, the
 * last agent starting (N - 1) / N of an act late and acting `iterations` times (null without acting).
 * No system can pass it: it is where the workload itself caps the shared system's tokens/s.
 */
export function actBoundTokensPerS(s: { agents: number; iterations: number; newTokens: number; actMs: number }): number | null {
  const ms = ((s.agents - 1) / s.agents + s.iterations) * s.actMs;
  return ms > 0 ? (s.agents * s.iterations * 2 * s.newTokens * 1e3) / ms : null;
}

const sleepUntil = (at: number) => new Promise<void>((res) => setTimeout(res, Math.max(0, at - performance.now())));

/** The share of the agents' tokens that equal the reference's up to each agent's first difference. */
export function agreement(ref: readonly (readonly number[])[], got: readonly (readonly number[])[]): number {
  let same = 0;
  let all = 0;
  got.forEach((tokens, k) => {
    const r = ref[k] ?? [];
    let i = 0;
    while (i < tokens.length && tokens[i] === r[i]) i++;
    same += i;
    all += tokens.length;
  });
  return all > 0 ? same / all : 1;
}

/** Runs every agent's cycles on the system; each agent's phases and tokens, or the error that stopped it. */
async function runAgents(sys: System, s: AgentsStep, vocab: number, t0: number, c: StepContext): Promise<{ phases: Phase[][]; tokens: number[][]; works: Work[][]; errors: unknown[] }> {
  const phases: Phase[][] = Array.from({ length: s.agents }, () => []);
  const tokens: number[][] = Array.from({ length: s.agents }, () => []);
  const works: Work[][] = Array.from({ length: s.agents }, () => []);
  const one = async (k: number) => {
    await sleepUntil(t0 + (k * s.actMs) / s.agents);
    let input = sessionPrompt(s.prompt, k, vocab);
    for (let it = 0; it < s.iterations; it++) {
      c.checkpoint();
      const reason = await sys.step(k, input, s.newTokens);
      phases[k]?.push([0, reason.submittedMs - t0, reason.doneMs - t0, reason.firstTokenMs === null ? null : reason.firstTokenMs - t0]);
      const until = performance.now() + s.actMs;
      sys.acting(k, until);
      await sleepUntil(until);
      phases[k]?.push([1, reason.doneMs - t0, performance.now() - t0, null]);
      c.checkpoint();
      const observation = promptIds({ tokens: s.observation, seed: 1_000_003 + k * s.iterations + it }, vocab);
      const reflect = await sys.step(k, [reason.tokens[reason.tokens.length - 1] as number, ...observation], s.newTokens);
      phases[k]?.push([2, reflect.submittedMs - t0, reflect.doneMs - t0, reflect.firstTokenMs === null ? null : reflect.firstTokenMs - t0]);
      tokens[k]?.push(...reason.tokens, ...reflect.tokens);
      works[k]?.push(reason, reflect);
      input = [reflect.tokens[reflect.tokens.length - 1] as number];
    }
    sys.done(k);
  };
  const settled = await Promise.allSettled(Array.from({ length: s.agents }, (_, k) => one(k)));
  return { phases, tokens, works, errors: settled.flatMap((r) => (r.status === 'rejected' ? [r.reason] : [])) };
}

const isOom = (e: unknown) => e instanceof VramlabError && e.code === 'VL_ERR_OUT_OF_MEMORY';

/** Loads the keep-alive copies past the first; the number that fit when the budget runs out. */
async function loadCopies(first: Model, s: AgentsStep): Promise<{ copies: Model[]; oom: string | null }> {
  const copies = [first];
  try {
    while (copies.length < s.agents) copies.push(await first.runtime.loadModel(s.load.model, modelOptions(s.load)));
    return { copies, oom: null };
  } catch (e) {
    if (!isOom(e)) throw e;
    return { copies, oom: (e as VramlabError).message };
  }
}

export const agents: Measure<AgentsStep> = {
  name: 'agents',
  doc: '`agents` agents each reason (prompt, `new_tokens` tokens), act (sleep `act`) and reflect (an `observation`-token observation, `new_tokens` tokens on the same context), `iterations` times, on one shared copy of the weights (batched, paged), one copy per agent (keep-alive) or a reload per step (serverless); the tokens must agree',
  settings: {
    ...MODEL_SETTINGS,
    baselines: BASELINES_SETTING,
    prompt: { ...(MODEL_SETTINGS['prompt'] as NonNullable<(typeof MODEL_SETTINGS)['prompt']>), doc: "each agent's task prompt: a token count (each agent its own ids), ids or a text (default 512 tokens)", default: { tokens: 512 } },
    agents: { kind: { type: 'integer', min: 1, max: 4096 }, doc: 'agents running at once (default 4)', sweep: true, default: 4 },
    new_tokens: { ...NEW_TOKENS_SETTING, doc: 'tokens each reason and each reflect step decodes (default 50)', default: 50 },
    observation: { kind: { type: 'integer', min: 1, max: 1 << 16, tokens: true }, doc: 'tokens of the observation a reflect step appends (default 32)', sweep: true, default: 32 },
    act: { kind: { type: 'duration' }, doc: 'how long an agent acts between reason and reflect (default 2 s)', sweep: true, default: 2000 },
    iterations: { kind: { type: 'integer', min: 1, max: 1000 }, doc: 'reason-act-reflect cycles per agent (default 3)', sweep: false, default: 3 },
    prefill_chunk: { kind: { type: 'integer', min: 1, max: 1 << 20, tokens: true }, doc: 'shared: prompt tokens per batched step, all agents together (default 128: on the H200 at 32 agents it kept reason P99 at 364 ms and per-token P99 at 9.3 ms, where 256 gave 379 and 10.2, 64 gave 403 and 9.6)', sweep: true, default: 128 },
    host_budget: { kind: { type: 'size' }, doc: "shared: pinned host memory for paged-out KV blocks, a size (default: half the machine's RAM)", sweep: false },
  },
  baselines: ['shared', 'keep-alive', 'serverless'],
  metrics: [
    'completed', 'oom', 'copies', 'reason_p50_ms', 'reason_p99_ms', 'reflect_p50_ms', 'reflect_p99_ms', 'reflect_ttft_p50_ms', 'reflect_ttft_p99_ms',
    'per_token_p99_ms', 'tokens_per_s', 'tokens_per_s_bound', 'wall_ms', 'paged_out_bytes', 'paged_in_bytes', 'stall_ms', 'host_alloc_ms', 'reload_ms', 'peak_vram_bytes', 'token_match', 'token_agreement',
    ...STEP_METRICS,
  ],
  // Exact on the CPU, where a batched step equals the single ones (test/lab/measures/agents.test.ts).
  // On CUDA the systems run other kernels (GEMV, skinny GEMM or cuBLAS by batch size, chunked or whole
  // prefills) that round fp16 differently, so greedy tokens may part at a near-tie: token_agreement.
  check: "every agent's greedy tokens against the same agent's on the first system run (on the CPU backend)",
  rowFields: { system: 'string' },
  parameters: PARAMETERS,
  evidence: { agent_timeline: 'object', keep_alive_copies: 'number' },

  compile(c) {
    const prompt = c.prompt();
    const work = { prompt, newTokens: c.number('new_tokens'), observation: c.number('observation'), iterations: c.number('iterations') };
    const agentsN = c.number('agents');
    const ctx = agentContext(work) + 1;
    const block = c.number('kv_block');
    // keep-alive and serverless: a pool for one agent's context, whatever kv_pool says of the shared one.
    const one = { ...c.load('resident', ctx, 1), kvPoolTokens: Math.ceil(ctx / block) * block };
    const all = c.load('resident', ctx, agentsN);
    const loads: Record<AgentSystem, LoadPlan> = {
      // Under a budget the shared pool is what it leaves (or kv_pool); without one, every agent's context.
      shared: { ...all, kvPoolTokens: c.optionalNumber('kv_pool') ?? (all.budget === null ? all.kvPoolTokens : null), hostBudget: c.optionalNumber('host_budget') ?? null },
      'keep-alive': one,
      serverless: one,
    };
    return c.baselines.map((b) => ({
      op: 'agents',
      baseline: b as AgentSystem,
      load: loads[b as AgentSystem],
      agents: agentsN,
      actMs: c.number('act'),
      prefillChunk: c.number('prefill_chunk'),
      ...work,
      point: c.point,
    }));
  },

  params(s): ResultRow {
    return { system: s.baseline, budget_bytes: s.load.budget, prompt_tokens: promptTokens(s.prompt), new_tokens: s.newTokens, observation_tokens: s.observation, act_ms: s.actMs, iterations: s.iterations, prefill_chunk: s.prefillChunk, agents: s.agents };
  },

  async *run(s, c): AsyncGenerator<never, ResultRow | null, void> {
    const { rt, model } = await c.model(s.load);
    const vocab = model.shape.vocabSize;
    let sys: System & { index?: Map<number, number>; steps?: StepReport[] };
    let extra: Model[] = [];
    const reloads: number[] = [];
    // Before keep-alive's copies, which leave the warm-up session its own pool all the same.
    const sched = s.baseline === 'shared' ? await sharedScheduler(rt, model, s) : null;
    await warmUp(model, sched, s);
    if (s.baseline === 'keep-alive') {
      // A budget that held fewer copies at a smaller N holds no more now: no loads to find it again.
      const known = c.memo.get(JSON.stringify(['copies', s.load]));
      if (typeof known === 'number' && known < s.agents) return { completed: 0, oom: true, copies: known, token_match: null, token_agreement: null };
      const got = await loadCopies(model, s);
      extra = got.copies.slice(1);
      if (got.oom !== null) {
        for (const m of extra) m.dispose();
        c.memo.set(JSON.stringify(['copies', s.load]), got.copies.length);
        c.result.keep_alive_copies = got.copies.length;
        return { completed: 0, oom: true, copies: got.copies.length, token_match: null, token_agreement: null };
      }
      sys = keepAlive(got.copies);
    }
    const before = model.pagingStats();
    const seq0 = model.pagingEvents(0).length;
    const t0 = performance.now();
    if (sched) sys = shared(model, sched, s, t0);
    else if (s.baseline === 'serverless') sys = serverless(model, s.agents, reloads);
    let run: Awaited<ReturnType<typeof runAgents>>;
    try {
      run = await runAgents(sys!, s, vocab, t0, c);
    } finally {
      sys!.close();
      for (const m of extra) m.dispose();
    }
    const wall = performance.now() - t0;
    const failed = run.errors.find((e) => !isOom(e));
    if (failed !== undefined) throw failed;
    const stats = model.pagingStats();
    const completed = run.works.filter((w) => w.length === 2 * s.iterations).length;

    const key = JSON.stringify(['tokens', s.point]);
    const ref = c.memo.get(key) as number[][] | undefined;
    const compared = completed === s.agents && ref !== undefined;
    const match = compared ? JSON.stringify(ref) === JSON.stringify(run.tokens) : null;
    if (ref === undefined && completed === s.agents) c.memo.set(key, run.tokens);
    if (rt.device.startsWith('cpu')) c.matched(match);

    const steps = (i: 0 | 1) => run.works.flatMap((w) => w.filter((_, j) => j % 2 === i));
    const latency = (ws: Work[]) => ws.map((w) => w.doneMs - w.submittedMs);
    const ttft = steps(1).flatMap((w) => (w.firstTokenMs === null ? [] : [w.firstTokenMs - w.submittedMs]));
    const gaps = run.works.flat().flatMap((w) => w.tokenMs.slice(1).map((t, i) => t - (w.tokenMs[i] as number)));
    const tokens = run.tokens.reduce((a, t) => a + t.length, 0);
    if (s.baseline === 'shared') {
      const kept = c.result.agent_timeline as { agents: number } | undefined;
      if ((kept?.agents ?? 0) <= s.agents) {
        const index = sys!.index ?? new Map<number, number>();
        const paging = model.pagingEvents(seq0).filter((e) => e.kind === 'out' || e.kind === 'in' || e.kind === 'drop').map((e) => [index.get(e.session) ?? -1, e.kind === 'in' ? 1 : 0, e.atMs - t0, e.bytes]);
        c.result.agent_timeline = { system: s.baseline, agents: s.agents, prefill_chunk: s.prefillChunk, phases: run.phases, paging, steps: stepRows(sys!.steps ?? []) };
      }
    }
    return {
      completed,
      oom: run.errors.length > 0,
      copies: s.baseline === 'keep-alive' ? s.agents : 1,
      reason_p50_ms: p(latency(steps(0)), 0.5),
      reason_p99_ms: p(latency(steps(0)), 0.99),
      reflect_p50_ms: p(latency(steps(1)), 0.5),
      reflect_p99_ms: p(latency(steps(1)), 0.99),
      reflect_ttft_p50_ms: p(ttft, 0.5),
      reflect_ttft_p99_ms: p(ttft, 0.99),
      per_token_p99_ms: p(gaps, 0.99),
      tokens_per_s: wall > 0 ? (tokens / wall) * 1e3 : null,
      tokens_per_s_bound: actBoundTokensPerS(s),
      wall_ms: wall,
      paged_out_bytes: stats.outBytes - before.outBytes,
      paged_in_bytes: stats.inBytes - before.inBytes,
      stall_ms: stats.stallMs - before.stallMs,
      host_alloc_ms: stats.hostAllocMs - before.hostAllocMs,
      reload_ms: reloads.length > 0 ? reloads.reduce((a, b) => a + b, 0) / reloads.length : null,
      peak_vram_bytes: rt.memory().peak,
      token_match: match,
      token_agreement: compared ? agreement(ref, run.tokens) : null,
      ...(sys!.steps ? stepMetrics(sys!.steps) : {}),
    };
  },

  figures: agentsFigures,
};
