// agents-systems.ts: the systems the agents measure compares (lab/measures/agents.ts), each a way to run
// a step of an agent's context on the device:
//   shared      one copy of the weights; every agent a session of it; the scheduler decodes every
//               ready agent in one batched step; the pager (next-use: an acting agent's key is the
//               time it returns) pages acting agents out when the pool is short and prefetches them back
//   keep-alive  one copy of the model per agent under the same budget (each its own KV pool): its OOM
//               point is the number of copies the budget holds; the copies share the device token by
//               token, in arrival order
//   serverless  each step loads the weights again from pinned host memory and re-prefills the agent's
//               whole history (the honest best case of reloading from disk); one step on the device at a time
// Latencies are what an agent sees: from asking for a step to its last token. The shared system also
// records every batched step the scheduler runs (its onStep reports), for the step metrics and the
// timeline's steps: what the device did, step by step, to diagnose a run offline.
import type { Logits } from '../../runtime/logits.js';
import type { Model, Runtime } from '../../runtime/runtime.js';
import type { Scheduler, StepReport } from '../../runtime/scheduler.js';
import type { Session } from '../../runtime/session.js';
import { sessionPrompt } from '../inputs.js';
import { type LoadPlan, type PromptPlan, promptTokens, type Step } from '../plan.js';
import { reserveSwap } from './paging.js';

export type AgentSystem = 'shared' | 'keep-alive' | 'serverless';

export interface AgentsStep extends Step {
  op: 'agents';
  baseline: AgentSystem;
  load: LoadPlan;
  agents: number;
  prompt: PromptPlan;
  newTokens: number;
  observation: number;
  actMs: number;
  iterations: number;
  prefillChunk: number;
}

/** One step of an agent: its tokens and when they came (performance.now() ms). */
export interface Work {
  tokens: number[];
  submittedMs: number;
  firstTokenMs: number | null;
  doneMs: number;
  tokenMs: number[];
}

/** A system the agents run on: a step of agent k's context, and what it is told of its acting. */
export interface System {
  step(k: number, ids: number[], n: number): Promise<Work>;
  acting(k: number, untilMs: number): void;
  done(k: number): void;
  close(): void;
}

/** The tokens of an agent's context at the end (the last token picked is not run). */
export function agentContext(s: { prompt: PromptPlan; newTokens: number; observation: number; iterations: number }): number {
  return promptTokens(s.prompt) + s.iterations * (2 * s.newTokens + s.observation) - 1;
}

/** Calls run one after another, in the order they were asked for (one device, shared in turn). */
class Turns {
  #tail: Promise<unknown> = Promise.resolve();
  run<T>(f: () => Promise<T>): Promise<T> {
    const r = this.#tail.then(f);
    this.#tail = r.catch(() => undefined);
    return r;
  }
}

/** A prefill then greedy decode steps, one call each, each call taken in `turns` (keep-alive, serverless). */
async function tokenByToken(session: Session, ids: number[], n: number, turns: Turns, work: Work): Promise<Work> {
  let logits = (await turns.run(() => session.forward(ids))) as Logits;
  for (let i = 0; i < n; i++) {
    const t = logits.argmax();
    const at = performance.now();
    work.tokens.push(t);
    work.tokenMs.push(at);
    work.firstTokenMs ??= at;
    if (i + 1 < n) logits = await turns.run(() => session.decode(t));
  }
  work.doneMs = performance.now();
  return work;
}

const newWork = (): Work => ({ tokens: [], submittedMs: performance.now(), firstTokenMs: null, doneMs: 0, tokenMs: [] });

/**
 * The shared system's scheduler, its decode graphs of 1 to N agents recorded and the host store for
 * paged-out agents pinned before the clock starts, as a server does both at its start: else each
 * batch size would record at its second step, and the first page-outs would pin (a few GB/s), inside
 * the run's latencies. An agent's context ends at its prompt and every cycle's tokens.
 */
export async function sharedScheduler(rt: Runtime, model: Model, s: AgentsStep): Promise<Scheduler> {
  const sched = model.scheduler({ prefillChunk: s.prefillChunk, maxBatch: Math.max(256, s.agents) });
  await sched.prepare(s.agents);
  await reserveSwap(rt, model, s.agents, agentContext(s) + 1);
  return sched;
}

export function shared(model: Model, sched: Scheduler, s: AgentsStep, t0: number): System & { index: Map<number, number>; steps: StepReport[] } {
  model.setPaging('next-use');
  const sessions = Array.from({ length: s.agents }, () => model.createSession());
  // Next-use keys are ms since the run's start: when each agent starts, then when it returns from acting.
  sessions.forEach((x, k) => x.nextUse((k * s.actMs) / s.agents));
  // Every batched step of the run, its time since t0. The scheduler is the model's, kept across runs:
  // whatever listened before is still told, and is put back at close.
  const steps: StepReport[] = [];
  const before = sched.onStep;
  const listener = (r: StepReport) => {
    steps.push({ ...r, atMs: r.atMs - t0 });
    before?.(r);
  };
  sched.onStep = listener;
  return {
    index: new Map(sessions.map((x, k) => [x.id, k])),
    steps,
    step: (k, ids, n) => sched.submit(sessions[k] as Session, ids, n),
    acting: (k, until) => (sessions[k] as Session).nextUse(until - t0),
    done: (k) => (sessions[k] as Session).nextUse(null),
    close: () => {
      if (sched.onStep === listener) sched.onStep = before;
      sessions.forEach((x) => x.dispose());
    },
  };
}

export function keepAlive(copies: Model[]): System {
  const turns = new Turns();
  const sessions = copies.map((m) => m.createSession());
  return {
    step: (k, ids, n) => tokenByToken(sessions[k] as Session, ids, n, turns, newWork()),
    acting: () => undefined,
    done: () => undefined,
    close: () => sessions.forEach((x) => x.dispose()),
  };
}

export function serverless(model: Model, n: number, reloads: number[]): System {
  const turns = new Turns();
  const history: number[][] = Array.from({ length: n }, () => []);
  return {
    async step(k, ids, count) {
      const work = newWork();
      const mine = history[k] as number[];
      const all = [...mine, ...ids];
      // The whole step holds the device: the weights are loaded for it alone.
      await turns.run(async () => {
        reloads.push((await model.reload()).ms);
        const session = model.createSession();
        try {
          await tokenByToken(session, all, count, new Turns(), work);
        } finally {
          session.dispose();
        }
      });
      mine.push(...ids, ...work.tokens.slice(0, -1));
      return work;
    },
    acting: () => undefined,
    done: () => undefined,
    close: () => undefined,
  };
}

/**
 * What a server does once at its start, before the clock: every kernel of a prefill and a decode
 * used once (CUDA loads modules lazily, cuBLAS picks its kernels at a shape's first call), and for
 * serverless the pinned host copy it reloads from made. On the H100 these cost the first step of a
 * run 210 ms (shared, 1 agent: reason P99 510 ms against a P50 of 285) and 6.4 s (serverless's first
 * reload pinned 13.5 GB). A session no agent uses (its prompt is agent N's) prefills the prompt and
 * decodes 2 tokens, through the scheduler on the shared system.
 */
export async function warmUp(model: Model, sched: Scheduler | null, s: AgentsStep): Promise<void> {
  if (s.baseline === 'serverless') await model.reload();
  const session = model.createSession();
  try {
    const ids = sessionPrompt(s.prompt, s.agents, model.shape.vocabSize);
    if (sched) await sched.submit(session, ids, 2);
    else await tokenByToken(session, ids, 2, new Turns(), newWork());
  } finally {
    session.dispose();
  }
}
