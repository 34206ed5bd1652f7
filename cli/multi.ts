// multi.ts: `vramlab generate MODEL --ids-file FILE --max-new-tokens N`: one session per line of FILE
// (comma-separated token ids), all over one copy of the weights. By default the sessions run batched
// through the model's scheduler (one weight read per step for all of them); with --turns every
// session is prefilled, then they decode in round-robin turns, one token each, every session alive
// until the end (the paging issue's workload: KV caches that together may exceed the pool, paged
// between VRAM and pinned host memory by the --paging policy). Greedy tokens do not depend on paging.
//
//   {"tokens": [[...], ...], "paging": {"out_bytes", "in_bytes", "peak_vram_bytes", "budget_bytes", "evictions"}}
import { readFileSync } from 'node:fs';
import { VramlabError } from '../runtime/errors.js';
import type { Model, Runtime } from '../runtime/runtime.js';
import type { Session } from '../runtime/session.js';
import { fileErrorReason } from '../lab/result-files.js';

/** The prompts of an ids file: one a line, comma-separated ids; errors say FILE:LINE. A final newline is fine. */
export function readIdsFile(path: string): number[][] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new VramlabError('VL_ERR_IO', `--ids-file ${path}: cannot read (${fileErrorReason(e)})`);
  }
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `${path}: no prompts (one a line: comma-separated token ids)`);
  return lines.map((line, i) => {
    const where = `${path}:${i + 1}`;
    if (line.trim() === '') throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `${where}: empty line (one prompt a line: comma-separated token ids)`);
    return line.split(',').map((part) => {
      const p = part.trim();
      const v = Number(p);
      if (p === '' || !/^\d+$/.test(p) || !Number.isSafeInteger(v)) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `${where}: "${p}" is not a token id (non-negative integers separated by commas)`);
      return v;
    });
  });
}

export interface MultiOutput {
  tokens: number[][];
  paging: { out_bytes: number; in_bytes: number; peak_vram_bytes: number; budget_bytes: number; evictions: number };
}

/** Prefills every prompt, then decodes one token per session per round, round robin. */
async function inTurns(model: Model, sessions: Session[], prompts: number[][], n: number): Promise<number[][]> {
  const tokens: number[][] = prompts.map(() => []);
  if (n === 0) return tokens;
  const order = (first: number) => sessions.map((_, k) => sessions[(first + k) % sessions.length] as Session);
  for (let i = 0; i < sessions.length; i++) {
    model.planTurns(order(i)); // the next-use policy knows who runs next
    const logits = await (sessions[i] as Session).forward(prompts[i] as number[], { logits: 'last' });
    (tokens[i] as number[]).push((logits as NonNullable<typeof logits>).argmax());
  }
  for (let round = 1; round < n; round++)
    for (let i = 0; i < sessions.length; i++) {
      model.planTurns(order(i));
      const t = tokens[i] as number[];
      t.push((await (sessions[i] as Session).decode(t[t.length - 1] as number)).argmax());
    }
  return tokens;
}

/** Runs the prompts, each in its own session, batched (the scheduler) or in turns. */
export async function generateMany(rt: Runtime, model: Model, prompts: number[][], n: number, turns: boolean): Promise<MultiOutput> {
  const sessions = prompts.map(() => model.createSession());
  try {
    let tokens: number[][];
    if (turns) tokens = await inTurns(model, sessions, prompts, n);
    else {
      const scheduler = model.scheduler();
      tokens = (await Promise.all(sessions.map((s, i) => scheduler.submit(s, prompts[i] as number[], n)))).map((r) => r.tokens);
    }
    const stats = model.pagingStats();
    const mem = rt.memory();
    return { tokens, paging: { out_bytes: stats.outBytes, in_bytes: stats.inBytes, peak_vram_bytes: mem.peak, budget_bytes: mem.budget, evictions: stats.evictions } };
  } finally {
    for (const s of sessions) s.dispose();
  }
}
