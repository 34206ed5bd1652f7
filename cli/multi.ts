// multi.ts: `vramlab generate MODEL --ids-file FILE`: one session per line of FILE (token ids, or a
// text when MODEL has a tokenizer.json), all over one copy of the weights. By default the sessions run batched
// through the model's scheduler (one weight read per step for all of them, greedy); with --turns every
// session is prefilled, then they decode in round-robin turns, one token each (greedy, or sampled
// with generate's flags), every session alive until the end (the paging issue's workload: KV caches
// that together may exceed the pool, paged between VRAM and pinned host memory by the --paging policy).
// Greedy tokens do not depend on paging. A session's tokens end at the first stop token (the model's
// EOS), which is its last.
//
//   {"tokens": [[...], ...], "paging": {"out_bytes", "in_bytes", "peak_vram_bytes", "budget_bytes", "evictions"}}
import { parseIds } from './args.js';
import { VramlabError } from '../runtime/errors.js';
import { type GenerateOptions, sampler } from '../runtime/generation.js';
import type { Logits } from '../runtime/logits.js';
import type { Model, Runtime } from '../runtime/runtime.js';
import type { WorkResult } from '../runtime/scheduler.js';
import type { Session } from '../runtime/session.js';
import { readFileOrPipe } from '../runtime/files.js';

/** The largest ids file read: some 10 million ids. */
const MAX_IDS_FILE_BYTES = 64 * 2 ** 20;

/**
 * The prompts of an ids file, one a line: token ids (parseIds), or, where `text` is given (MODEL has a
 * tokenizer.json), any other line is a text and `text` its ids. Errors say FILE:LINE. A final newline is
 * fine. The file may be a pipe (`--ids-file <(cmd)`), read to its end, at most MAX_IDS_FILE_BYTES.
 */
export async function readIdsFile(path: string, text: ((line: string) => number[]) | null): Promise<number[][]> {
  const content = (await readFileOrPipe(path, MAX_IDS_FILE_BYTES, 'an ids file')).toString('utf8');
  const lines = content.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  const form = text ? 'token ids separated by commas or spaces, or a text' : 'token ids separated by commas or spaces; text lines need a model with a tokenizer.json';
  if (lines.length === 0) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `${path}: no prompts (one a line: ${form})`);
  return lines.map((line, i) => {
    const where = `${path}:${i + 1}`;
    if (line.trim() === '') throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `${where}: empty line (one prompt a line: ${form})`);
    try {
      return parseIds(line, where, form);
    } catch (e) {
      if (!text) throw e;
    }
    const ids = text(line);
    if (ids.length === 0) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `${where}: the text has no tokens`);
    return ids;
  });
}

export interface MultiOutput {
  tokens: number[][];
  paging: { out_bytes: number; in_bytes: number; peak_vram_bytes: number; budget_bytes: number; evictions: number };
}

/** The tokens up to the first stop token (included). */
function upToStop(tokens: number[], stop: ReadonlySet<number>): number[] {
  const i = tokens.findIndex((t) => stop.has(t));
  return i < 0 ? tokens : tokens.slice(0, i + 1);
}

/**
 * Prefills every prompt, then decodes one token per session per round, round robin, until each has n or
 * stopped; each session picks its tokens with its own sampler of `sampling` (the argmax at temperature 0).
 */
async function inTurns(model: Model, sessions: Session[], prompts: number[][], n: number, stop: ReadonlySet<number>, sampling: GenerateOptions): Promise<{ tokens: number[][]; firstMs: number }> {
  const tokens: number[][] = prompts.map(() => []);
  const samplers = sessions.map(() => sampler(sampling));
  const pick = (i: number, logits: Logits | null) => (samplers[i] as (row: Float32Array) => number)((logits as Logits).row(0));
  const order = (first: number) => sessions.map((_, k) => sessions[(first + k) % sessions.length] as Session);
  for (let i = 0; i < sessions.length; i++) {
    model.planTurns(order(i)); // the next-use policy knows who runs next
    const logits = await (sessions[i] as Session).forward(prompts[i] as number[], { logits: 'last' });
    (tokens[i] as number[]).push(pick(i, logits));
  }
  const firstMs = performance.now();
  for (let round = 1; round < n; round++)
    for (let i = 0; i < sessions.length; i++) {
      const t = tokens[i] as number[];
      if (stop.has(t[t.length - 1] as number)) continue;
      model.planTurns(order(i));
      t.push(pick(i, await (sessions[i] as Session).decode(t[t.length - 1] as number)));
    }
  return { tokens, firstMs };
}

/**
 * Runs the prompts (n >= 1 new tokens each), each in its own session, batched (the scheduler: every
 * session decodes n greedy tokens, cut at the first stop token) or in turns (sampled with `sampling`
 * when it has a temperature above 0); firstMs: when the last session's first token came
 * (performance.now()), the end of the prefills.
 */
export async function generateMany(rt: Runtime, model: Model, prompts: number[][], n: number, turns: boolean, stopAt: readonly number[], sampling: GenerateOptions = {}): Promise<MultiOutput & { firstMs: number }> {
  const sessions = prompts.map(() => model.createSession());
  const stop = new Set(stopAt);
  try {
    let tokens: number[][];
    let firstMs: number;
    if (turns) ({ tokens, firstMs } = await inTurns(model, sessions, prompts, n, stop, sampling));
    else {
      const scheduler = model.scheduler();
      // Every submission settles before the sessions go: a refused one must not free the model under a
      // step the others' work is running on a worker thread.
      const settled = await Promise.allSettled(sessions.map((s, i) => scheduler.submit(s, prompts[i] as number[], n)));
      const results: WorkResult[] = [];
      for (const r of settled) {
        if (r.status === 'rejected') throw r.reason;
        results.push(r.value);
      }
      tokens = results.map((r) => upToStop(r.tokens, stop));
      firstMs = Math.max(...results.map((r) => r.firstTokenMs ?? r.doneMs));
    }
    const stats = model.pagingStats();
    const mem = rt.memory();
    return { firstMs, tokens, paging: { out_bytes: stats.outBytes, in_bytes: stats.inBytes, peak_vram_bytes: mem.peak, budget_bytes: mem.budget, evictions: stats.evictions } };
  } finally {
    for (const s of sessions) s.dispose();
  }
}
