// generate.ts: `vramlab generate`, and the prompts of `logits` and `generate`: token ids (--ids) or a
// text (--prompt) through the model directory's tokenizer.json, or with --chat the user's message
// through its chat template (chat.ts). Generation stops at the model's EOS (Model.eosTokenIds; the EOS
// is the last token, as in transformers) unless --ignore-eos, and after --max-new-tokens, by default
// (-1, as llama.cpp's) at the context's end: the model's positions, or its KV pool if that holds fewer,
// less the prompt (said on stderr). Greedy unless --temperature is above 0 (then --top-k, --top-p,
// --seed: runtime/generation.ts). On a terminal the prompt is echoed first, then the continuation
// follows it as it is generated: the text of it for a --prompt, else its ids; then the timings on
// stderr, as llama.cpp prints them:
//
//   prefill time =       4.21 ms /    24 tokens (    0.18 ms per token,  5700.71 tokens per second)
//    decode time =      30.12 ms /    23 tokens (    1.31 ms per token,   763.61 tokens per second)
//
// --json: {"tokens": [...], "text": "..." | null, "timings": {...}} (text: null without a tokenizer.json);
// with --ids-file {"tokens": [[...], ...], "paging": {...}, "text": [...] | null, "timings": {...}}.
import { randomInt } from 'node:crypto';
import { parseCount, parseIds, parseInteger, parseNumber, usage } from './args.js';
import { chatPrompt } from './chat.js';
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
  chat?: boolean;
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

/** A prompt: its token ids, and its text as the model reads it (null for token ids). */
export interface Prompt {
  ids: number[];
  text: string | null;
}

/** MODEL's directory when it has a tokenizer.json; null for a synthetic model or a directory without one. */
export function tokenizerDir(modelArg: string): string | null {
  return !modelArg.startsWith('synthetic:') && hasTokenizer(modelArg) ? modelArg : null;
}

/**
 * How a text becomes a prompt: through MODEL's tokenizer.json with its special tokens (e.g. BOS), or
 * with `chat` as the user's message through the chat template (chat.ts); null without a tokenizer.json.
 */
export function textPrompt(modelArg: string, chat: boolean): ((text: string) => Prompt) | null {
  const dir = tokenizerDir(modelArg);
  if (dir === null) return null;
  if (!chat) return (text) => ({ ids: encodeText(dir, text), text });
  return (message) => {
    const text = chatPrompt(dir, message);
    return { ids: encodeText(dir, text, { addSpecialTokens: false }), text };
  };
}

/** Checks that one of --ids and --prompt is given, and --chat only with --prompt (before the model loads). */
export function checkPromptFlags(values: PromptValues): void {
  if (values.ids !== undefined && values.prompt !== undefined) throw usage('give --ids or --prompt, not both');
  if (values.ids === undefined && values.prompt === undefined) throw usage('--ids or --prompt is required, e.g. --ids 3,17,42 or --prompt "The cat"');
  if (values.chat && values.prompt === undefined) throw usage("--chat needs --prompt (the user's message)");
  if (values.ids !== undefined) parseIds(values.ids, '--ids');
}

/** The prompt: --ids, or --prompt as textPrompt makes it. */
export function promptOf(values: PromptValues, modelArg: string): Prompt {
  checkPromptFlags(values);
  if (values.prompt === undefined) return { ids: parseIds(values.ids as string, '--ids'), text: null };
  const make = textPrompt(modelArg, values.chat ?? false);
  if (make === null)
    throw usage(`--${values.chat ? 'chat' : 'prompt'}: ${modelArg.startsWith('synthetic:') ? 'a synthetic model' : modelArg} has no tokenizer.json: give token ids with --ids`);
  const p = make(values.prompt);
  if (p.ids.length === 0) throw usage('--prompt: the text has no tokens');
  return p;
}

export interface GenerateFlags {
  values: GenerateValues;
  /** --max-new-tokens; null: to the context's end (the default, -1). */
  n: number | null;
  sampling: GenerateOptions;
}

/** --max-new-tokens: a positive integer, or null for -1 or none (to the context's end). */
function maxNewTokens(text: string | undefined): number | null {
  if (text === undefined || text.trim() === '-1') return null;
  if (!/^\s*\d+\s*$/.test(text)) throw usage(`--max-new-tokens: "${text}" must be a positive integer, or -1 (the default: to the context's end)`);
  return parseCount(text, '--max-new-tokens', 1) as number;
}

/** The generate flags checked, every one before the model loads. */
export function generateFlags(values: GenerateValues): GenerateFlags {
  const n = maxNewTokens(values['max-new-tokens']);
  const temperature = parseNumber(values.temperature, '--temperature', '>= 0', (v) => v >= 0);
  const topK = parseCount(values['top-k'], '--top-k', 1);
  const topP = parseNumber(values['top-p'], '--top-p', 'in (0, 1]', (v) => v > 0 && v <= 1);
  const seed = parseInteger(values.seed, '--seed');
  const sampling = (temperature ?? 0) > 0;
  const greedyOnly = (['top-k', 'top-p', 'seed'] as const).find((f) => values[f] !== undefined);
  if (!sampling && greedyOnly) throw usage(`--${greedyOnly}: sampling needs --temperature above 0 (the default, 0, is greedy)`);
  if (values['ids-file'] !== undefined) {
    if (values.ids !== undefined || values.prompt !== undefined) throw usage(`give --${values.ids !== undefined ? 'ids' : 'prompt'} or --ids-file, not both`);
    if (sampling && !values.turns) throw usage('--temperature: the batched scheduler of --ids-file picks the argmax on the device: sample in turns (--turns)');
  } else {
    if (values.turns) throw usage('--turns needs --ids-file');
    checkPromptFlags(values);
  }
  return { values, n, sampling: sampling ? { temperature, topK, topP, seed: seed ?? randomInt(2 ** 48 - 1) } : {} };
}

/**
 * The default of --max-new-tokens (-1): as many new tokens as the context holds after a prompt of
 * `prompt` tokens (the model's positions, or the KV pool if it holds fewer), said on stderr.
 */
function toContextEnd(model: Model, prompt: number, where: string): number {
  const info = model.info();
  const max = info.shape.maxPositionEmbeddings;
  const pool = info.kvPoolBlocks * info.kvBlockTokens;
  const context = Math.min(max, pool);
  const what = pool < max ? `the KV pool's ${pool} tokens (fewer than the model's ${max} positions: --kv-pool-tokens)` : `the model's ${max} positions`;
  if (prompt >= context) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `${where}a ${prompt}-token prompt fills the context, ${what}: no room for a new token`);
  process.stderr.write(`max-new-tokens: to the EOS or the context's end: at most ${context - prompt} new tokens, ${what} less the ${prompt}-token prompt\n`);
  return context - prompt;
}

/** Prompt plus new tokens must fit the model's positions. */
export function checkLength(model: Model, prompt: number, n: number, where: string): void {
  const max = model.info().shape.maxPositionEmbeddings;
  if (prompt + n > max)
    throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `${where}a ${prompt}-token prompt${n > 0 ? ` plus ${n} new tokens is ${prompt + n} positions,` : ' is'} more than the model's max_position_embeddings ${max}`);
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
  const { values } = flags;
  const stopAt = values['ignore-eos'] ? [] : model.eosTokenIds;
  const dir = tokenizerDir(modelArg);
  const decode = dir === null ? null : (ids: number[]) => decodeIds(dir, ids, { skipSpecialTokens: true });
  if (values['ids-file'] !== undefined) {
    const file = values['ids-file'];
    const text = textPrompt(modelArg, values.chat ?? false);
    const prompts = await readIdsFile(file, text && ((line) => text(line).ids));
    const longest = prompts.reduce((a, p, i) => (p.length > (prompts[a] as number[]).length ? i : a), 0);
    const n = flags.n ?? toContextEnd(model, (prompts[longest] as number[]).length, `${file}:${longest + 1}: `);
    prompts.forEach((p, i) => checkLength(model, p.length, n, `${file}:${i + 1}: `));
    if (flags.sampling.temperature !== undefined) process.stderr.write(samplingLine(flags.sampling));
    const start = performance.now();
    const { firstMs, ...out } = await generateMany(rt, model, prompts, n, values.turns ?? false, stopAt, flags.sampling);
    const t = timings(prompts.reduce((a, p) => a + p.length, 0), out.tokens.reduce((a, ts) => a + ts.length - 1, 0), start, firstMs, performance.now());
    const texts = decode && out.tokens.map(decode);
    process.stdout.write(json ? JSON.stringify({ ...out, text: texts, timings: t }) + '\n' : out.tokens.map((ts) => ts.join(' ')).join('\n') + '\n');
    process.stderr.write(formatTimings(t));
    return;
  }
  const prompt = promptOf(values, modelArg);
  const ids = prompt.ids;
  const n = flags.n ?? toContextEnd(model, ids.length, '');
  checkLength(model, ids.length, n, '');
  if (flags.sampling.temperature !== undefined) process.stderr.write(samplingLine(flags.sampling));
  // The continuation streams to stdout; on a terminal that is the progress, and a bar on the same
  // screen would overwrite it: the bar is drawn (on a terminal's stderr) only when stdout goes elsewhere.
  // There the prompt comes first, so that the continuation reads on from it.
  const terminal = !json && process.stdout.isTTY === true;
  if (terminal) process.stdout.write(prompt.text ?? `${ids.join(' ')} `);
  const printer = json ? null : new Continuation(process.stdout, prompt.text !== null ? decode : null);
  const bar = json || !terminal ? progressBar() : null;
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
