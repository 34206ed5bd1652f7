// logits.ts: `vramlab logits MODEL`: the logits at every position of a prompt (--ids, --prompt, --chat;
// prompt plus nothing past the model's max_position_embeddings), with decoder layers' outputs scaled
// (--steer L:S, through breakpoints after those layers). A row a position: its token and the --top K
// (default 1) most likely next ones with their logits, each with its text when MODEL has a tokenizer.json:
//
//   position  token      top 2 next tokens: id "text" logit
//          0  1 "<s>"    267 "The" 3.1416    98 "_" 2.7183
//
// --json: {"logits": [[...], ...]} (every logit, a row a position); with --top K also "top": [[{"id",
// "text" (null without a tokenizer.json), "logit", "prob"}, ...], ...], K a position.
import { parseCount } from './args.js';
import { checkLength, promptOf, type PromptValues, tokenizerDir } from './generate.js';
import { type TopToken, topTokens } from './repl/format.js';
import { decodeIds } from '../dsl/models.js';
import { VramlabError } from '../runtime/errors.js';
import { argmax } from '../runtime/logits.js';
import type { Model } from '../runtime/runtime.js';
import type { Steer } from '../runtime/types.js';

export interface LogitsValues extends PromptValues {
  top?: string;
}

/** Checks --top before the model loads; its K (undefined when not given). */
export function topFlag(values: LogitsValues): number | undefined {
  return parseCount(values.top, '--top', 1);
}

/** A row's argmax as its top token (its probability unread: NaN). */
function argmaxOf(row: Float32Array): TopToken {
  const id = argmax(row);
  return { id, logit: row[id] as number, prob: NaN };
}

/** Runs `vramlab logits` on the loaded model. */
export async function runLogits(model: Model, modelArg: string, values: LogitsValues, steer: Steer[] | undefined, json: boolean): Promise<void> {
  const k = topFlag(values);
  const { ids } = promptOf(values, modelArg);
  checkLength(model, ids.length, 0, '');
  const s = model.createSession();
  const logits = steer ? await s.forward(ids, { logits: 'all', steer }) : await s.forward(ids, { logits: 'all' });
  if (!logits) throw new VramlabError('VL_ERR_INTERNAL', 'no logits returned');
  const dir = tokenizerDir(modelArg);
  const text = dir === null ? null : (id: number) => decodeIds(dir, [id]);
  // Without --top the argmax alone: a sort of every row would cost a long prompt seconds.
  const top: TopToken[][] = ids.map((_, i) => (k === undefined ? [argmaxOf(logits.row(i))] : topTokens(logits.row(i), Math.min(k, logits.vocab))));
  if (json) {
    const candidates = k === undefined ? {} : { top: top.map((row) => row.map((t) => ({ id: t.id, text: text && text(t.id), logit: t.logit, prob: t.prob }))) };
    process.stdout.write(JSON.stringify({ logits: logits.toArrays(), ...candidates }) + '\n');
    return;
  }
  const token = (id: number) => (text ? `${id} ${JSON.stringify(text(id))}` : String(id));
  const tokens = ids.map(token);
  const width = Math.max('token'.length, ...tokens.map((t) => t.length));
  const n = top[0]?.length ?? 1;
  console.log(`position  ${'token'.padEnd(width)}  top ${n} next token${n > 1 ? 's' : ''}: id${text ? ' "text"' : ''} logit`);
  ids.forEach((_, i) => {
    const next = (top[i] ?? []).map((t) => `${token(t.id)} ${t.logit.toFixed(4)}`).join('    ');
    console.log(`${String(i).padStart(8)}  ${(tokens[i] as string).padEnd(width)}  ${next}`);
  });
}
