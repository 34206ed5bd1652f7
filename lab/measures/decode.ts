// decode.ts: the decode measure (seed 004): greedy decoding of `new_tokens` tokens by `sessions`
// sessions sharing one copy of the weights, each with its own KV cache. Baselines: kv-cache (one
// decode step per token from JavaScript, the sessions round robin), stateless (every token re-runs
// the whole prefix: no state kept between tokens) and generate (each session's tokens in one call,
// greedy on the device, the steps enqueued back to back; per token: the marginal cost of the tokens
// after the first). Every baseline must produce the same tokens.
import type { Logits } from '../../runtime/logits.js';
import type { Session } from '../../runtime/session.js';
import type { Placement } from '../../runtime/types.js';
import { columnTitle, numberFormat, sizeUnit } from '../columns.js';
import { barLabel, barLayout, bars, barTops, type Figure, fixed, groupBy, hline, inUnit, layout, lines, measured, missingNote, points, rowLabel, runsNote, swept } from '../figures.js';
import { promptIds } from '../inputs.js';
import type { Measure } from '../measure.js';
import { type LoadPlan, type PromptPlan, promptTokens, type Step } from '../plan.js';
import type { Results } from '../results.js';
import { BASELINES_SETTING, checkStreamedOnly, MODEL_SETTINGS, NEW_TOKENS_SETTING, PLACEMENT_SETTING } from '../settings.js';
import { mean } from '../stats.js';

/** Greedy decoding of `newTokens` tokens by `sessions` sessions sharing the weights, one of three ways (the baseline). */
export interface DecodeStep extends Step {
  op: 'decode';
  baseline: 'kv-cache' | 'stateless' | 'generate';
  load: LoadPlan;
  prompt: PromptPlan;
  newTokens: number;
  sessions: number;
}

const PARAMETERS = ['placement', 'budget_bytes', 'kv_pool_tokens', 'prompt_tokens', 'new_tokens', 'sessions'];

/** What a run of the sessions did: each one's tokens, the prefill times, the per-token times, bytes copied per token. */
interface Decoded {
  tokens: number[][];
  prefillMs: number[];
  perTokenMs: number[];
  h2dPerToken: number[];
}

/**
 * kv-cache and stateless: the sessions take turns, a token each: the first from the prefill, the rest
 * from a decode step (kv-cache) or from a forward pass over the whole prefix (stateless).
 */
async function roundRobin(sessions: Session[], prompt: number[], s: DecodeStep, checkpoint: () => void): Promise<Decoded> {
  const out: Decoded = { tokens: sessions.map(() => []), prefillMs: [], perTokenMs: [], h2dPerToken: [] };
  for (const [k, session] of sessions.entries()) {
    checkpoint();
    const t = performance.now();
    const logits = (await session.forward(prompt)) as Logits;
    out.prefillMs.push(performance.now() - t);
    out.tokens[k]!.push(logits.argmax());
  }
  for (let n = 1; n < s.newTokens; n++) {
    for (const [k, session] of sessions.entries()) {
      checkpoint();
      const mine = out.tokens[k] as number[];
      const t = performance.now();
      let logits: Logits;
      if (s.baseline === 'kv-cache') logits = await session.decode(mine[mine.length - 1] as number);
      else {
        session.reset();
        logits = (await session.forward([...prompt, ...mine])) as Logits;
      }
      out.perTokenMs.push(performance.now() - t);
      out.h2dPerToken.push(session.lastStep().h2dBytes);
      mine.push(logits.argmax());
    }
  }
  return out;
}

/**
 * generate: one session after another, each generates its tokens in one call; the per-token cost is
 * that of the tokens after the first: (generate N - generate 1) / (N - 1), as HF's generate is timed.
 */
async function generated(sessions: Session[], prompt: number[], newTokens: number, checkpoint: () => void): Promise<Decoded> {
  const out: Decoded = { tokens: [], prefillMs: [], perTokenMs: [], h2dPerToken: [] };
  const timed = async (session: Session, n: number) => {
    session.reset();
    const t = performance.now();
    const tokens = await session.generate(prompt, n);
    return { tokens, ms: performance.now() - t, h2d: session.lastStep().h2dBytes };
  };
  for (const session of sessions) {
    checkpoint();
    const one = await timed(session, 1);
    const all = await timed(session, newTokens);
    out.tokens.push(all.tokens);
    out.prefillMs.push(one.ms);
    if (newTokens > 1) {
      out.perTokenMs.push((all.ms - one.ms) / (newTokens - 1));
      out.h2dPerToken.push((all.h2d - one.h2d) / (newTokens - 1));
    }
  }
  return out;
}

// --- figures -------------------------------------------------------------------------------------------

/**
 * decode: per-token latency per system, with the HBM floor (weight bytes / device-to-device bandwidth)
 * when measured; against the number of sessions, one line per system, when sessions were swept.
 */
export function decodeFigure(r: Results): Figure {
  const fields = swept(r.rows, PARAMETERS);
  if (fields.includes('sessions')) {
    // The KV pool grows with the sessions: it is not a parameter of its own there.
    const others = fields.filter((f) => f !== 'sessions' && f !== 'kv_pool_tokens');
    const { data, ps, missing, xaxis } = lines(r.rows, (row) => rowLabel(row, String(row['baseline']), others), 'sessions', 'per_token_ms', 'ms');
    return {
      data,
      layout: layout('Decode latency per token against sessions sharing the weights', r, {
        xaxis,
        yaxis: { title: { text: columnTitle('per_token_ms') }, rangemode: 'tozero' },
      }, [runsNote(ps), missingNote(missing)]),
    };
  }
  const { points: ps, missing } = points(groupBy(r.rows, (row) => barLabel(row, String(row['baseline']), fields)), 'per_token_ms');
  const floor = r.hbm_floor_ms ?? null;
  const text = numberFormat(Math.max(0, ...ps.map((p) => p.median)));
  const placed = barLayout(
    barTops(ps, (p) => [`${text(p.median)} ms`, ...(floor ? [`(${fixed(p.median / floor, 2)}x floor)`] : [])]),
    floor ? [hline(floor, `HBM floor ${numberFormat(floor)(floor)} ms`, '#444')] : [],
  );
  return {
    data: [bars('per-token latency', ps)],
    layout: layout('Decode latency per token', r, {
      shapes: placed.shapes,
      annotations: placed.annotations,
      xaxis: { title: { text: columnTitle('baseline') } },
      yaxis: { title: { text: columnTitle('per_token_ms') }, range: placed.range },
      showlegend: false,
    }, [runsNote(ps), missingNote(missing), placed.note]),
  };
}

/** decode: bytes copied host-to-device per generated token, per system (the KV round trip of stateless decoding). */
export function bytesPerTokenFigure(r: Results): Figure {
  const fields = swept(r.rows, PARAMETERS);
  const { points: ps, missing } = points(groupBy(r.rows, (row) => barLabel(row, String(row['baseline']), fields)), 'h2d_bytes_per_token');
  const { unit, scale } = sizeUnit(Math.max(...ps.map((p) => p.max)));
  const scaled = inUnit(ps, scale);
  const text = numberFormat(Math.max(0, ...scaled.map((p) => p.median)));
  const placed = barLayout(barTops(scaled, (p) => `${text(p.median)} ${unit}`));
  return {
    data: [bars('bytes per token', scaled)],
    layout: layout('Host-to-device bytes per decoded token', r, {
      annotations: placed.annotations,
      xaxis: { title: { text: columnTitle('baseline') } },
      yaxis: { title: { text: columnTitle('h2d_bytes_per_token', unit) }, range: placed.range },
      showlegend: false,
    }, [runsNote(scaled), missingNote(missing)]),
  };
}

export const decode: Measure<DecodeStep> = {
  name: 'decode',
  doc: '`sessions` sessions generate `new_tokens` tokens each: with decode steps on the KV cache, round robin (kv-cache), re-running the whole prefix every token (stateless), or in one call each, greedy on the device (generate); the tokens must agree',
  settings: {
    ...MODEL_SETTINGS,
    baselines: BASELINES_SETTING,
    placement: PLACEMENT_SETTING,
    new_tokens: NEW_TOKENS_SETTING,
    sessions: { kind: { type: 'integer', min: 1, max: 4096 }, doc: 'sessions decoding at once, sharing the weights (default 1)', sweep: true, default: 1 },
  },
  baselines: ['kv-cache', 'stateless', 'generate'],
  metrics: ['per_token_ms', 'prefill_ms', 'total_ms', 'tokens_generated', 'h2d_bytes_per_token', 'peak_vram_gb', 'token_match'],
  check: 'greedy tokens of every baseline and run against the first run of the same point',
  rowFields: { baseline: 'string' },
  parameters: PARAMETERS,
  evidence: { hbm_floor_ms: 'number', d2d_gbps: 'number' },

  validate: checkStreamedOnly,

  compile(c) {
    const prompt = c.prompt();
    const newTokens = c.number('new_tokens');
    const sessions = c.number('sessions');
    const load = c.load(c.string('placement') as Placement, promptTokens(prompt) + newTokens, sessions);
    return c.baselines.map((b) => ({ op: 'decode', baseline: b as DecodeStep['baseline'], load, prompt, newTokens, sessions, point: c.point }));
  },

  params(s) {
    return { baseline: s.baseline, placement: s.load.placement, budget_bytes: s.load.budget, kv_pool_tokens: s.load.kvPoolTokens, prompt_tokens: promptTokens(s.prompt), new_tokens: s.newTokens, sessions: s.sessions };
  },

  async *run(s, c) {
    const { rt, model } = await c.model(s.load);
    const prompt = promptIds(s.prompt, model.shape.vocabSize);
    const sessions = Array.from({ length: s.sessions }, () => model.createSession());
    const t0 = performance.now();
    let d: Decoded;
    try {
      d = s.baseline === 'generate' ? await generated(sessions, prompt, s.newTokens, () => c.checkpoint()) : await roundRobin(sessions, prompt, s, () => c.checkpoint());
    } finally {
      for (const session of sessions) session.dispose();
    }
    const total = performance.now() - t0;
    const key = JSON.stringify(['tokens', s.point, s.prompt, s.newTokens, s.sessions]);
    const ref = c.memo.get(key);
    let match: boolean | null = null;
    if (ref === undefined) c.memo.set(key, d.tokens.flat());
    else match = JSON.stringify(ref) === JSON.stringify(d.tokens.flat());
    c.matched(match);
    return {
      per_token_ms: mean(d.perTokenMs),
      prefill_ms: mean(d.prefillMs),
      total_ms: total,
      tokens_generated: d.tokens.flat().length,
      h2d_bytes_per_token: mean(d.h2dPerToken),
      peak_vram_gb: rt.memory().peak / 1e9,
      token_match: match,
    };
  },

  figures(r, note) {
    return [
      ...(measured(r, 'per_token_ms', 'Decode latency per token', note) ? [decodeFigure(r)] : []),
      ...(measured(r, 'h2d_bytes_per_token', 'Host-to-device bytes per decoded token', note, 'the weights and the KV cache stay on the device') ? [bytesPerTokenFigure(r)] : []),
    ];
  },
};
