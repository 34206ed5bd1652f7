// paging.ts: the paging measure (seed 003, Figure 6: memory oversubscription). `sessions` sessions of
// one model, each prefilled with its own prompt, then decoding `new_tokens` greedy tokens per turn,
// round robin, `turns` rounds, every session alive to the end: their KV caches together may exceed
// what the VRAM budget leaves after the weights, and the model's KV pager moves blocks between the
// device pool and pinned host memory. Baselines are the pager's policies: next-use (the turn order is
// told ahead: evict the session used furthest in the future, prefetch the next), lru, recompute (drop
// an evicted session's KV and re-run its tokens when it returns) and no-paging (the pool fills, then
// steps fail: the OOM baseline). The check: every session's tokens equal to the same session's on the
// full card with everything resident (the reference step, which also gives compute_only_ms), for the
// policies that copy KV (recompute's token_exact is reported: a re-prefill rounds differently). The
// pinned copy bandwidth each way and both ways is probed in the same run (the probe step).
import type { Logits } from '../../runtime/logits.js';
import { VramlabError } from '../../runtime/errors.js';
import type { Model, Runtime } from '../../runtime/runtime.js';
import type { PagingEvent, PagingPolicy } from '../../runtime/types.js';
import { sessionPrompt } from '../inputs.js';
import type { Measure, StepContext } from '../measure.js';
import { type LoadPlan, type PromptPlan, promptTokens, type Step } from '../plan.js';
import type { ResultRow } from '../results.js';
import { BASELINES_SETTING, MODEL_SETTINGS, NEW_TOKENS_SETTING } from '../settings.js';
import { pagingFigures, type ResidencyTimeline } from './paging-figures.js';

export type PagingBaseline = 'next-use' | 'lru' | 'recompute' | 'no-paging';

/** The pager policy of each baseline. */
const POLICY: Record<PagingBaseline, PagingPolicy> = { 'next-use': 'next-use', lru: 'lru', recompute: 'recompute', 'no-paging': 'none' };

export type PagingStep =
  /** The pinned copy bandwidth each way and both ways, `bytes` a copy: once, before the rest. */
  | { op: 'probe'; bytes: number; point: Record<string, never> }
  /** The turns on the full card, everything resident: the tokens and compute time the policies are held to. */
  | { op: 'reference' | 'paging'; baseline?: PagingBaseline; load: LoadPlan; prompt: PromptPlan; newTokens: number; turns: number; sessions: number; point: Step['point'] };

type TurnsStep = Extract<PagingStep, { op: 'reference' | 'paging' }>;

const PARAMETERS = ['budget_bytes', 'host_budget_bytes', 'kv_pool_tokens', 'prompt_tokens', 'new_tokens', 'turns', 'sessions'];

/** The tokens of a session's context at the end of the turns (the last token picked is not run). */
export function contextTokens(s: { prompt: PromptPlan; newTokens: number; turns: number }): number {
  return promptTokens(s.prompt) + s.turns * s.newTokens;
}

/**
 * Pins the host store that `sessions` sessions of up to `contextTokens` tokens each can need at once,
 * within the host budget, as a serving system reserves its swap space at start: pinning runs at a few
 * GB/s and would otherwise land inside the steps that first page out. That is every block but the
 * pool's, plus one session's (its victims go out before its own blocks come back). Resolves with the
 * ms spent pinning and the bytes the store holds.
 */
export async function reserveSwap(rt: Runtime, model: Model, sessions: number, contextTokens: number): Promise<{ ms: number; bytes: number }> {
  const info = model.info();
  const blocksPerSession = Math.ceil(contextTokens / info.kvBlockTokens);
  const hostBlocks = Math.max(0, (sessions + 1) * blocksPerSession - info.kvPoolBlocks);
  const mem = rt.memory();
  const held = (await model.reserveHost(0)).bytes; // what the store holds already
  const room = held + Math.max(0, mem.hostBudget - mem.hostCurrent);
  return model.reserveHost(Math.min(hostBlocks * info.kvBlockBytes, room));
}

/** What the turns did: each session's tokens (null: it failed), the wall time, the first out-of-memory error. */
interface Turns {
  tokens: (number[] | null)[];
  wallMs: number;
  oom: string | null;
  /** Session.id -> index, for the pager's records. */
  index: Map<number, number>;
}

/**
 * Prefills every session, then runs `turns` rounds of `newTokens` greedy tokens each, round robin. With
 * `plan`, each session's next-use key is its next turn's index in that order (null after its last).
 * A session whose step runs out of memory (no-paging) is left out from then on, its KV as before.
 */
async function runTurns(model: Model, s: TurnsStep, plan: boolean, c: StepContext): Promise<Turns> {
  const n = s.sessions;
  const vocab = model.shape.vocabSize;
  const sessions = Array.from({ length: n }, () => model.createSession());
  const out: Turns = { tokens: sessions.map(() => []), wallMs: 0, oom: null, index: new Map(sessions.map((x, k) => [x.id, k])) };
  const turnIndex = (round: number, k: number) => round * n + k; // round 0: the prefills
  try {
    if (plan) sessions.forEach((x, k) => x.nextUse(turnIndex(0, k)));
    const t0 = performance.now();
    for (let round = 0; round <= s.turns; round++) {
      for (const [k, session] of sessions.entries()) {
        const mine = out.tokens[k];
        if (!mine) continue;
        c.checkpoint();
        try {
          if (round === 0) mine.push(((await session.forward(sessionPrompt(s.prompt, k, vocab))) as Logits).argmax());
          else mine.push(...(await session.generate([mine[mine.length - 1] as number], s.newTokens)));
        } catch (e) {
          if (!(e instanceof VramlabError) || e.code !== 'VL_ERR_OUT_OF_MEMORY') throw e;
          out.oom ??= e.message;
          out.tokens[k] = null;
          continue;
        }
        if (plan) session.nextUse(round < s.turns ? turnIndex(round + 1, k) : null);
      }
    }
    out.wallMs = performance.now() - t0;
  } finally {
    for (const x of sessions) x.dispose();
  }
  return out;
}

/** The pager's records of a run as compact rows: [ms since the first, session index, device blocks, host blocks, pool used, host used]. */
function timelineOf(events: readonly PagingEvent[], index: Map<number, number>): number[][] {
  const t0 = events[0]?.tMs ?? 0;
  return events.map((e) => [Math.round((e.tMs - t0) * 1000) / 1000, index.get(e.session) ?? -1, e.deviceBlocks, e.hostBlocks, e.poolUsed, e.hostUsed]);
}

export const paging: Measure<PagingStep> = {
  name: 'paging',
  doc: '`sessions` sessions prefill their prompts, then decode `new_tokens` tokens per turn, round robin, for `turns` rounds, under each paging policy; their tokens are checked against a run with everything resident on the full card, and the pinned copy bandwidth is probed in the same run (`probe` bytes)',
  settings: {
    ...MODEL_SETTINGS,
    baselines: BASELINES_SETTING,
    sessions: { kind: { type: 'integer', min: 1, max: 4096 }, doc: 'sessions alive at once, each with its own KV cache (default 4)', sweep: true, default: 4 },
    new_tokens: { ...NEW_TOKENS_SETTING, doc: 'tokens each session decodes per turn (default 16)' },
    turns: { kind: { type: 'integer', min: 1, max: 1024 }, doc: 'rounds of turns after the prefills (default 2)', sweep: true, default: 2 },
    host_budget: { kind: { type: 'size' }, doc: 'pinned host memory for paged-out KV blocks, a size (default: half the machine\'s RAM)', sweep: false },
    probe: { kind: { type: 'size' }, doc: 'bytes of each pinned copy probe run beside the paging (default 256 MiB)', sweep: false, default: 256 * 2 ** 20 },
  },
  baselines: ['next-use', 'lru', 'recompute', 'no-paging'],
  metrics: [
    'completed', 'oom', 'token_exact', 'context_tokens', 'logical_demand_bytes', 'peak_vram_bytes', 'peak_kv_device_bytes', 'kv_pool_bytes',
    'paged_out_bytes', 'paged_in_bytes', 'swap_out_gbps', 'swap_in_gbps', 'wall_ms', 'compute_only_ms', 'bound_ms', 'stall_ms', 'recomputed_tokens', 'evictions',
    'host_reserve_ms', 'host_store_bytes', 'host_alloc_ms',
  ],
  check: "greedy tokens of every session against the same session's with everything resident on the full card (the copying policies; recompute's reported)",
  rowFields: { policy: 'string' },
  parameters: PARAMETERS,
  evidence: { pinned_h2d_gbps: 'number', pinned_d2h_gbps: 'number', pinned_both_gbps: 'number', host_budget_bytes: 'number', residency: 'object' },

  compile(c) {
    const steps: PagingStep[] = [];
    if (c.first('probe')) steps.push({ op: 'probe', bytes: c.number('probe'), point: {} });
    const prompt = c.prompt();
    const newTokens = c.number('new_tokens');
    const turns = c.number('turns');
    const sessions = c.number('sessions');
    const tokens = contextTokens({ prompt, newTokens, turns }) + 1;
    const work = { prompt, newTokens, turns, sessions, point: c.point };
    // The reference holds every session on the device of its own runtime, no budget.
    const all = c.load('resident', tokens, sessions);
    steps.push({ op: 'reference', load: { ...all, budget: null, kvPoolTokens: sessions * Math.ceil(tokens / all.kvBlockTokens) * all.kvBlockTokens }, ...work });
    // Under the budget the pool is what it leaves (or kv_pool): one load for every policy.
    const load: LoadPlan = { ...all, kvPoolTokens: c.optionalNumber('kv_pool') ?? null, hostBudget: c.optionalNumber('host_budget') ?? null };
    for (const b of c.baselines) steps.push({ op: 'paging', baseline: b as PagingBaseline, load, ...work });
    return steps;
  },

  once(s) {
    return s.op !== 'paging';
  },

  params(s, info): ResultRow {
    if (s.op === 'probe') return { policy: 'probe' };
    const base = { budget_bytes: s.load.budget, host_budget_bytes: s.load.hostBudget ?? null, kv_pool_tokens: info ? info.kvPoolBlocks * info.kvBlockTokens : s.load.kvPoolTokens, prompt_tokens: promptTokens(s.prompt), new_tokens: s.newTokens, turns: s.turns, sessions: s.sessions };
    return { policy: s.op === 'reference' ? 'reference' : (s.baseline as string), ...base };
  },

  async *run(s, c) {
    if (s.op === 'probe') {
      const rt = await c.device();
      c.result.pinned_h2d_gbps = await rt.copyBandwidth({ bytes: s.bytes, direction: 'h2d' });
      c.result.pinned_d2h_gbps = await rt.copyBandwidth({ bytes: s.bytes, direction: 'd2h' });
      c.result.pinned_both_gbps = await rt.copyBandwidth({ bytes: s.bytes, direction: 'both' });
      return null;
    }
    const key = JSON.stringify(['reference', s.point, s.prompt, s.newTokens, s.turns, s.sessions]);
    if (s.op === 'reference') {
      const { model } = await c.model(s.load, { reference: true });
      const run = await runTurns(model, s, false, c);
      c.memo.set(key, run);
      c.unload(); // the policies run under their budget, on a runtime of their own
      return null;
    }
    const { rt, model } = await c.model(s.load);
    const baseline = s.baseline as PagingBaseline;
    model.setPaging(POLICY[baseline]);
    const info = model.info();
    // Pinned before the turns (reserveSwap), else inside the first policy's (the later ones would find it pinned).
    const copies = baseline === 'next-use' || baseline === 'lru';
    const reserve = copies ? await reserveSwap(rt, model, s.sessions, contextTokens(s)) : { ms: 0, bytes: (await model.reserveHost(0)).bytes };
    const before = model.pagingStats();
    const seq0 = model.pagingEvents(0).length;
    const run = await runTurns(model, s, baseline === 'next-use', c);
    const stats = model.pagingStats();
    const events = model.pagingEvents(seq0);
    c.result.host_budget_bytes = rt.memory().hostBudget;

    const ref = c.memo.get(key) as Turns | undefined;
    const done = run.tokens.flatMap((t, k) => (t ? [k] : []));
    // Compared where both completed; nothing compared: null.
    const both = done.filter((k) => ref?.tokens[k]);
    const exact = ref && both.length > 0 ? both.every((k) => JSON.stringify(run.tokens[k]) === JSON.stringify(ref.tokens[k])) : null;
    // Paging copies KV bytes, so next-use, lru and no-paging must give the resident tokens exactly.
    // Recompute re-runs a dropped suffix as one prefill, whose GEMM shapes (and so fp16 rounding) differ
    // from the decode steps that first made that KV: its token_exact is measured and reported, not held
    // to (on the CPU backend it is exact; on CUDA near-tied greedy picks of random weights can flip).
    if (baseline !== 'recompute') c.matched(exact);

    const perToken = info.kvBlockBytes / info.kvBlockTokens;
    const context = contextTokens(s);
    const out = stats.outBytes - before.outBytes;
    const inb = stats.inBytes - before.inBytes;
    const outMs = stats.outMs - before.outMs;
    const inMs = stats.inMs - before.inMs;
    const bothGbps = typeof c.result.pinned_both_gbps === 'number' ? c.result.pinned_both_gbps : null;
    // The bound holds the same work to the reference's time: only when every session completed.
    const computeOnly = ref && ref.oom === null && done.length === s.sessions ? ref.wallMs : null;
    const peakBlocks = Math.max(0, ...events.map((e) => e.poolUsed));
    const kept = c.result.residency as Record<string, ResidencyTimeline> | undefined;
    if ((kept?.[baseline]?.sessions ?? 0) <= s.sessions)
      c.result.residency = { ...kept, [baseline]: { sessions: s.sessions, kv_block_bytes: info.kvBlockBytes, pool_blocks: info.kvPoolBlocks, weight_bytes: info.weightBytes, events: timelineOf(events, run.index) } };
    return {
      completed: done.length,
      oom: run.oom !== null,
      token_exact: exact,
      context_tokens: context,
      logical_demand_bytes: info.weightBytes + s.sessions * context * perToken,
      peak_vram_bytes: rt.memory().peak,
      peak_kv_device_bytes: peakBlocks * info.kvBlockBytes,
      kv_pool_bytes: info.kvPoolBytes,
      paged_out_bytes: out,
      paged_in_bytes: inb,
      swap_out_gbps: outMs > 0 ? out / outMs / 1e6 : null,
      swap_in_gbps: inMs > 0 ? inb / inMs / 1e6 : null,
      wall_ms: run.wallMs,
      compute_only_ms: computeOnly,
      bound_ms: computeOnly === null ? null : Math.max(computeOnly, bothGbps ? (out + inb) / (bothGbps * 1e6) : 0),
      stall_ms: stats.stallMs - before.stallMs,
      host_reserve_ms: reserve.ms,
      host_store_bytes: reserve.bytes,
      host_alloc_ms: stats.hostAllocMs - before.hostAllocMs,
      recomputed_tokens: stats.recomputedTokens - before.recomputedTokens,
      evictions: stats.evictions - before.evictions,
    };
  },

  figures: pagingFigures,
};
