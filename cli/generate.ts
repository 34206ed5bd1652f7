// generate.ts: `vramlab generate`, and the prompts of `logits` and `generate`: token ids (--ids) or a
// text (--prompt) through the model directory's tokenizer.json. Generation stops at the model's EOS
// (Model.eosTokenIds; the EOS is the last token, as in transformers) unless --ignore-eos; greedy unless
// --temperature is above 0 (then --top-k, --top-p, --seed: runtime/generation.ts). The continuation
// goes to stdout as it is generated: the text of it for a --prompt, else its ids; then the timings
// on stderr, as llama.cpp prints them:
//
//   prefill time =       4.21 ms /    24 tokens (    0.18 ms per token,  5700.71 tokens per second)
//    decode time =      30.12 ms /    23 tokens (    1.31 ms per token,   763.61 tokens per second)
//
// --json: {"tokens": [...], "text": "..." | null, "timings": {...}} (text: null without a tokenizer.json);
// with --ids-file {"tokens": [[...], ...], "paging": {...}, "text": [...] | null, "timings": {...}}.
import { randomInt } from 'node:crypto';
import { parseCount, parseInteger, parseNumber, usage } from './args.js';
import { generateMany, readIdsFile } from './multi.js';
import { progressBar } from './progress.js';
import { decodeIds, encodeText, hasTokenizer } from '../dsl/models.js';
import { VramlabError } from '../runtime/errors.js';
import type { GenerateOptions } from '../runtime/generation.js';
import type { Model, Runtime } from '../runtime/runtime.js';

/** The flags of logits and generate that this file reads (node:util parseArgs values). */
export interface PromptValues {
  ids?: string;
  prompt?: string;
}

export interface GenerateValues extends PromptValues {
  'max-new-tokens'?: string;
  'ids-file'?: string;
  turns?: boolean;
  temperature?: string;
  'top-k'?: string;
  'top-p'?: string;
  seed?: string;
  'ignore-eos'?: boolean;
}

function parseIds(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  const ids = parts.map(Number);
  const bad = parts.findIndex((p, i) => p === '' || !Number.isInteger(ids[i]) || (ids[i] as number) < 0);
  if (bad >= 0) throw usage(`--ids: "${parts[bad]}" is not a token id (non-negative integers separated by commas)`);
  return ids;
}

/** MODEL's directory when it has a tokenizer.json; null for a synthetic model or a directory without one. */
function tokenizerDir(modelArg: string): string | null {
  return !modelArg.startsWith('synthetic:') && hasTokenizer(modelArg) ? modelArg : null;
}

/** Checks that one of --ids and --prompt is given (before the model loads). */
export function checkPromptFlags(values: PromptValues): void {
  if (values.ids !== undefined && values.prompt !== undefined) throw usage('give --ids or --prompt, not both');
  if (values.ids === undefined && values.prompt === undefined) throw usage('--ids or --prompt is required, e.g. --ids 3,17,42 or --prompt "The cat"');
  if (values.ids !== undefined) parseIds(values.ids);
}

/** The prompt's token ids: --ids, or --prompt through MODEL's tokenizer.json (with its special tokens, e.g. BOS). */
export function promptIds(values: PromptValues, modelArg: string): number[] {
  checkPromptFlags(values);
  if (values.prompt === undefined) return parseIds(values.ids as string);
  const dir = tokenizerDir(modelArg);
  if (dir === null)
    throw usage(`--prompt: ${modelArg.startsWith('synthetic:') ? 'a synthetic model' : modelArg} has no tokenizer.json: give token ids with --ids`);
  const ids = encodeText(dir, values.prompt);
  if (ids.length === 0) throw usage('--prompt: the text has no tokens');
  return ids;
}

export interface GenerateFlags {
  values: GenerateValues;
  n: number;
  sampling: GenerateOptions;
}

/** The generate flags checked, every one before the model loads. */
export function generateFlags(values: GenerateValues): GenerateFlags {
  const n = parseCount(values['max-new-tokens'], '--max-new-tokens', 1);
  if (n === undefined) throw usage('--max-new-tokens is required');
  const temperature = parseNumber(values.temperature, '--temperature', '>= 0', (v) => v >= 0);
  const topK = parseCount(values['top-k'], '--top-k', 1);
  const topP = parseNumber(values['top-p'], '--top-p', 'in (0, 1]', (v) => v > 0 && v <= 1);
  const seed = parseInteger(values.seed, '--seed');
  const sampling = (temperature ?? 0) > 0;
  const greedyOnly = (['top-k', 'top-p', 'seed'] as const).find((f) => values[f] !== undefined);
  if (!sampling && greedyOnly) throw usage(`--${greedyOnly}: sampling needs --temperature above 0 (the default, 0, is greedy)`);
  if (values['ids-file'] !== undefined) {
    if (values.ids !== undefined || values.prompt !== undefined) throw usage(`give --${values.ids !== undefined ? 'ids' : 'prompt'} or --ids-file, not both`);
    if (sampling) throw usage('--temperature: --ids-file sessions decode greedily (the batched scheduler picks the argmax): sample with --ids or --prompt');
  } else {
    if (values.turns) throw usage('--turns needs --ids-file');
    checkPromptFlags(values);
  }
  return { values, n, sampling: sampling ? { temperature, topK, topP, seed: seed ?? randomInt(2 ** 48 - 1) } : {} };
}

/** Prompt plus new tokens must fit the model's positions. */
function checkLength(model: Model, prompt: number, n: number, where: string): void {
  const max = model.info().shape.maxPositionEmbeddings;
  if (prompt + n > max)
    throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `${where}a ${prompt}-token prompt plus ${n} new tokens is ${prompt + n} positions, more than the model's max_position_embeddings ${max}`);
}

export interface Timings {
  prefill_ms: number;
  prefill_tokens: number;
  prefill_tokens_per_s: number | null;
  decode_ms: number;
  decode_tokens: number;
  decode_ms_per_token: number | null;
  decode_tokens_per_s: number | null;
}

const round = (v: number) => Math.round(v * 1000) / 1000;

/** From the start, the first token (the prefill done) and the last one (performance.now() ms). */
function timings(promptTokens: number, decodeTokens: number, start: number, first: number, end: number): Timings {
  const prefill = first - start, decode = end - first;
  return {
    prefill_ms: round(prefill),
    prefill_tokens: promptTokens,
    prefill_tokens_per_s: prefill > 0 ? round((promptTokens / prefill) * 1000) : null,
    decode_ms: round(decode),
    decode_tokens: decodeTokens,
    decode_ms_per_token: decodeTokens > 0 ? round(decode / decodeTokens) : null,
    decode_tokens_per_s: decodeTokens > 0 && decode > 0 ? round((decodeTokens / decode) * 1000) : null,
  };
}

/** llama.cpp's lines (llama_perf_context_print): time, tokens, ms per token, tokens per second. */
export function formatTimings(t: Timings): string {
  const line = (label: string, ms: number, tokens: number, perToken: number | null, perSecond: number | null) =>
    `${label} time = ${ms.toFixed(2).padStart(10)} ms / ${String(tokens).padStart(5)} tokens` +
    (perToken === null || perSecond === null ? '' : ` (${perToken.toFixed(2).padStart(8)} ms per token, ${perSecond.toFixed(2).padStart(8)} tokens per second)`);
  const perPrompt = t.prefill_tokens > 0 ? t.prefill_ms / t.prefill_tokens : null;
  return `${line('prefill', t.prefill_ms, t.prefill_tokens, perPrompt, t.prefill_tokens_per_s)}\n${line(' decode', t.decode_ms, t.decode_tokens, t.decode_ms_per_token, t.decode_tokens_per_s)}\n`;
}

/**
 * Writes a continuation as it comes: its ids separated by spaces, or its text (all its tokens decoded
 * again each time, so that the pieces add up to the text of the whole: a piece that ends inside a
 * UTF-8 character waits for the next token), then a newline.
 */
class Continuation {
  readonly #tokens: number[] = [];
  #printed = '';

  constructor(
    readonly out: NodeJS.WritableStream,
    readonly decode: ((ids: number[]) => string) | null,
  ) {}

  push(token: number): void {
    this.#tokens.push(token);
    if (!this.decode) {
      this.out.write(`${this.#tokens.length > 1 ? ' ' : ''}${token}`);
      return;
    }
    const text = this.decode(this.#tokens);
    if (!text.endsWith('\uFFFD')) this.#write(text);
  }

  end(): void {
    if (this.decode) this.#write(this.decode(this.#tokens));
    this.out.write('\n');
  }

  #write(text: string): void {
    if (!text.startsWith(this.#printed)) return; // a later token changed the text before it: the rest waits for the end
    this.out.write(text.slice(this.#printed.length));
    this.#printed = text;
  }
}

function samplingLine(o: GenerateOptions): string {
  const parts = [`temperature ${o.temperature}`, o.topK === undefined ? '' : `top-k ${o.topK}`, o.topP === undefined ? '' : `top-p ${o.topP}`, `seed ${o.seed}`];
  return `sampling: ${parts.filter(Boolean).join(', ')}\n`;
}

/** Runs `vramlab generate` on the loaded model. */
export async function runGenerate(model: Model, rt: Runtime, modelArg: string, flags: GenerateFlags, json: boolean): Promise<void> {
  const { values, n } = flags;
  const stopAt = values['ignore-eos'] ? [] : model.eosTokenIds;
  const dir = tokenizerDir(modelArg);
  const decode = dir === null ? null : (ids: number[]) => decodeIds(dir, ids, { skipSpecialTokens: true });
  if (values['ids-file'] !== undefined) {
    const prompts = await readIdsFile(values['ids-file']);
    prompts.forEach((p, i) => checkLength(model, p.length, n, `${values['ids-file']}:${i + 1}: `));
    const start = performance.now();
    const { firstMs, ...out } = await generateMany(rt, model, prompts, n, values.turns ?? false, stopAt);
    const t = timings(prompts.reduce((a, p) => a + p.length, 0), out.tokens.reduce((a, ts) => a + ts.length - 1, 0), start, firstMs, performance.now());
    const text = decode && out.tokens.map(decode);
    process.stdout.write(json ? JSON.stringify({ ...out, text, timings: t }) + '\n' : out.tokens.map((ts) => ts.join(' ')).join('\n') + '\n');
    process.stderr.write(formatTimings(t));
    return;
  }
  const ids = promptIds(values, modelArg);
  checkLength(model, ids.length, n, '');
  if (flags.sampling.temperature !== undefined) process.stderr.write(samplingLine(flags.sampling));
  // The continuation streams to stdout; on a terminal that is the progress, and a bar on the same
  // screen would overwrite it: the bar is drawn (on a terminal's stderr) only when stdout goes elsewhere.
  const printer = json ? null : new Continuation(process.stdout, values.prompt !== undefined ? decode : null);
  const bar = json || !process.stdout.isTTY ? progressBar() : null;
  const start = performance.now();
  let first = start, last = start;
  const tokens = await model.createSession().generate(ids, n, {
    ...flags.sampling,
    stopAt,
    onToken: (token, i) => {
      last = performance.now();
      if (i === 0) first = last;
      printer?.push(token);
      bar?.update({ done: i + 1, total: n, label: 'tokens' });
    },
  });
  const t = timings(ids.length, tokens.length - 1, start, first, last);
  bar?.end();
  printer?.end();
  if (json) process.stdout.write(JSON.stringify({ tokens, text: decode && decode(tokens), timings: t }) + '\n');
  process.stderr.write(formatTimings(t));
}
