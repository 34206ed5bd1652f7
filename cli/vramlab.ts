#!/usr/bin/env node
// vramlab: the command line. User errors print one line on stderr and exit with status 1.
//
//   vramlab logits MODEL --ids 3,17,42|--prompt TEXT [--chat] [--top K] [--steer L:S ...] [--device cpu] [--budget SIZE] [--placement P --ring SIZE --prefetch N] [--json]   (cli/logits.ts)
//   vramlab generate MODEL --ids 3,17,42|--prompt TEXT [--chat] [--max-new-tokens N] [--temperature T --top-k K --top-p P --seed S] [--ignore-eos] [--json]
//   vramlab generate MODEL --ids-file FILE [--max-new-tokens N] [--turns] [--paging P] [--host-budget SIZE] [--json]   (cli/generate.ts)
//   vramlab info MODEL [--device cpu|cuda:N] [--device-memory SIZE|CARD] [--budget SIZE] [--placement P] [--json]   (cli/info.ts)
//   vramlab demo [--device cpu] [--budget SIZE] [--json]
//   vramlab repl [MODEL] [--device D] [--script FILE]   (cli/repl/)
//   vramlab report RESULTS.json... --out report.html
//   vramlab check FILE... | plan FILE [--device D] | run FILE [--device D] [--out DIR] [--set NAME=VALUE ...] [--json]   (.vlab files)
//
// MODEL is a HuggingFace Llama directory or synthetic:<spec> (see runtime/synthetic.ts).
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { argsError, parseCount, usage } from './args.js';
import { runDemo } from './demo.js';
import { generateFlags, checkPromptFlags, runGenerate } from './generate.js';
import { INFO_USAGE, runInfo } from './info.js';
import { runLogits, topFlag } from './logits.js';
import { guardOutput } from './output.js';
import { loadingBar } from './progress.js';
import { runReport } from './report.js';
import { suggest } from '../dsl/settings.js';
import { VramlabError } from '../runtime/errors.js';
import type { Steer } from '../runtime/types.js';
import { type Model, Runtime } from '../runtime/runtime.js';
import { type ModelOptions, PAGING_POLICIES, type PagingPolicy, type Placement, PLACEMENTS } from '../runtime/types.js';
import { readJsonFile } from '../runtime/files.js';
import { packageRoot } from '../runtime/native.js';

const USAGE = `usage: vramlab <command> [options]

commands:
  logits MODEL --ids 3,17,42       logits at every input position (or --prompt TEXT): each
         [--top K]                 position's token and its K most likely next ones, with their text
         [--steer L:S ...]         with decoder layer L's output scaled by S (through a
                                   breakpoint after layer L; repeatable)
  generate MODEL --ids 3,17,42 [--max-new-tokens N]
                                   continuation up to the model's EOS, at most N new tokens (default:
                                   to the context's end, said on stderr): greedy, or sampled with
                                   --temperature T [--top-k K] [--top-p P] [--seed S]
  generate MODEL --prompt TEXT [--chat]
                                   the same for a text, through the model's tokenizer.json (--chat:
                                   as the user's message, through its chat template)
  generate MODEL --ids-file FILE [--turns]
                                   one session per line of FILE (ids, or a text), batched (or in turns)
  info MODEL                       the model's shape, dtypes, KV bytes per token and what fits
                                   the budget, without loading the weights (for a GPU this machine
                                   need not have: --device cuda:0 --device-memory 80GB or H100)
  demo                             a short run on the built-in tiny model
  repl [MODEL] [--script FILE]     interactive breakpoint inspection: break, run, step,
                                   stats, lens, edits, save (help inside the REPL)
  report RESULTS.json... --out report.html
                                   an HTML report (tables, figures) of results files
  check FILE...                    check .vlab experiment files (exit 0 when clean)
  plan FILE [--device D]           what running a .vlab file would do (--json: the plan)
  run FILE [--device D] [--out DIR] [--set NAME=VALUE ...]
                                   run a .vlab file: a table of its rows; results in DIR
                                   (default results/) as EXPERIMENT.json and EXPERIMENT.csv

options:
  --device cpu|cuda:N              device (default cpu; plan and run: the file's own device)
  --budget SIZE                    VRAM budget, e.g. 512MB, 24GiB (default: the device's memory)
  --kv-pool-tokens N               KV pool capacity in tokens (default: max positions, at most 4096)
  --placement P                    resident (default) | stream | stream-sync | accelerate | auto
  --ring SIZE                      ring buffer for streamed layers (default: two layers)
  --prefetch N                     streamed layers copied ahead (default 1)
  --host-budget SIZE               pinned host memory for paged-out KV blocks
  --paging P                       lru (default) | next-use | recompute | none
  --json                           machine-readable output (check, plan, run, info, demo, logits,
                                   generate: each command's --help gives its shape)
  --version                        the version
  COMMAND --help                   that command's usage

MODEL: a HuggingFace Llama directory (config.json + safetensors), or synthetic:<spec> with
<spec> = NAME[,key=value...] (NAME: tiny, llama-7b, llama-13b, llama-70b, llama-3-8b, llama-3-70b)
or key=value,... (hidden, layers, heads, kv_heads, head_dim, ffn, vocab, max_pos, rope_theta, eps,
tie, dtype=f16|bf16|f32, seed), e.g. synthetic:llama-7b,layers=2 or
synthetic:hidden=256,layers=2,heads=4,ffn=688,vocab=1000`;

/** Each command's own usage (`vramlab COMMAND --help`). */
const COMMAND_USAGE: Record<string, string> = {
  logits: `usage: vramlab logits MODEL (--ids 3,17,42 | --prompt TEXT [--chat]) [--top K] [--steer L:S ...]
                      [--device cpu|cuda:N] [--budget SIZE] [--kv-pool-tokens N] [--placement P] [--ring SIZE]
                      [--prefetch N] [--json]
  the logits at every input position (at most the model's max_position_embeddings): a row a position,
  its token and the most likely next tokens with their logits, each with its text when MODEL has a
  tokenizer.json
  --prompt TEXT    the prompt as text, through MODEL's tokenizer.json (with its special tokens, e.g. BOS)
  --chat           the --prompt as the user's message, through MODEL's chat template (tokenizer_config.json's
                   chat_template, or chat_template.jinja), as transformers' apply_chat_template renders it
  --top K          the K most likely next tokens a position (default 1, the argmax)
  --steer L:S      scale decoder layer L's output by S (repeatable)
  --json           {"logits": [[...], ...]}: every logit, a row per position; with --top also "top":
                   [[{"id", "text" (null without a tokenizer.json), "logit", "prob"}, ...], ...]`,
  generate: `usage: vramlab generate MODEL (--ids 3,17,42 | --prompt TEXT [--chat]) [--max-new-tokens N]
                        [--temperature T] [--top-k K] [--top-p P] [--seed S] [--ignore-eos] [--device cpu|cuda:N]
                        [--budget SIZE] [--kv-pool-tokens N] [--placement P] [--ring SIZE] [--prefetch N] [--json]
       vramlab generate MODEL --ids-file FILE [--chat] [--max-new-tokens N] [--turns [--temperature T ...]]
                        [--ignore-eos] [--budget SIZE] [--host-budget SIZE] [--kv-pool-tokens N]
                        [--paging lru|next-use|recompute|none] [--json]
  continues the prompt up to the model's EOS, printed as it comes: on a terminal the prompt first and the
  continuation after it, else the continuation alone; the text for a --prompt, else the token ids; then
  the prefill and decode times, ms per token and tokens per second on stderr (and a progress bar there
  when stdout is not a terminal)
  --max-new-tokens N  at most N new tokens (prompt + N at most the model's max_position_embeddings); the
                    default, -1 as llama.cpp's, stops at the context's end: the model's positions, or the
                    KV pool's tokens if it holds fewer (--kv-pool-tokens), less the prompt, at most that
                    many new tokens (stderr says how many)
  --prompt TEXT     the prompt as text, through MODEL's tokenizer.json (with its special tokens, e.g. BOS)
  --chat            the --prompt (or each text line of --ids-file) as the user's message, through MODEL's
                    chat template (tokenizer_config.json's chat_template, or chat_template.jinja) as
                    transformers' apply_chat_template renders it with add_generation_prompt, tokenized
                    without adding special tokens (the template writes them)
  --ignore-eos      go on past the model's EOS (eos_token_id of generation_config.json, else config.json);
                    without it the EOS ends the continuation and is its last token, as in transformers
  --temperature T   sample, from the logits divided by T (a number >= 0; default 0: greedy, the argmax)
  --top-k K         sample among the K most likely tokens (a positive integer; needs --temperature)
  --top-p P         sample among the most likely tokens that make up P of the probability, in (0, 1]
  --seed S          the sampler's seed (an integer; default a random one, printed): same seed, same tokens
  --ids-file FILE   one prompt a line, each its own session: token ids (3,17,42), or, when MODEL has a
                    tokenizer.json, any other line is a text (as --prompt); batched through the scheduler
                    (greedy), or with --turns prefilled and then decoded round robin, one token a turn
                    (greedy, or sampled: each session with its own sampler of the flags above, so that a
                    line's tokens are those of --ids with the same flags)
                    a file of at most 64 MiB, or a pipe read to its end up to as much (--ids-file <(cmd))
  --json            {"tokens": [...], "text": "..." | null (no tokenizer.json), "timings": {"prefill_ms",
                    "prefill_tokens", "prefill_tokens_per_s", "decode_ms", "decode_tokens", "decode_ms_per_token",
                    "decode_tokens_per_s"}}; with --ids-file {"tokens": [[...], ...], "paging": {"out_bytes",
                    "in_bytes", "peak_vram_bytes", "budget_bytes", "evictions"}, "text": [...] | null, "timings": {...}}`,
  info: INFO_USAGE,
  demo: `usage: vramlab demo [--device cpu|cuda:N] [--budget SIZE] [--json]
  a short prefill and decode on the built-in tiny model, with timings and memory
  --json   {"device", "model", "load_ms", "prefill": {"tokens", "ms", "tokens_per_s"}, "decode": {...},
           "kv": {"blocks", "block_tokens", "tokens", "pool_blocks", "pool_bytes"},
           "vram": {"current_bytes", "peak_bytes", "budget_bytes"}, "tokens": [...]}`,
  report: `usage: vramlab report RESULTS.json... --out report.html [--title TEXT]
  an HTML report (tables, figures) of results files`,
  check: `usage: vramlab check FILE... [--set NAME=VALUE ...] [--json]
  checks .vlab files: diagnostics on stderr; exit 0 when every file is clean, 1 otherwise
  --set NAME=VALUE  a setting in place of the files' own (as run takes it)
  --json   {"files": [{"file", "ok", "error": null | "why it was not read", "diagnostics": [{"file", "line",
           "column", "offset", "length", "severity", "code", "message", "hint"?}, ...]}, ...]} on stdout`,
  plan: `usage: vramlab plan FILE [--device cpu|cuda:N] [--set NAME=VALUE ...] [--json]
  a summary of what running FILE would do: each experiment's steps and runs, its sweeps, the settings it
  sets away from their defaults, and what a step would hold in device memory (--device: default the file's own)
  --set NAME=VALUE  a setting in place of the file's own (as run takes it)
  --json            the compiled plan itself, as JSON, a step a line`,
  run: `usage: vramlab run FILE [--device cpu|cuda:N] [--out DIR] [--set NAME=VALUE ...] [--json]
  runs a .vlab file (--device: default the file's own); prints each experiment's rows as a table (a line per
  configuration, its runs averaged) and writes DIR/EXPERIMENT.json and .csv (default DIR: results/). A run
  never replaces results: an earlier EXPERIMENT.json/.csv is renamed EXPERIMENT.<its date>.json/.csv first,
  and an experiment with no measured row (every row an error, or stopped before its first) writes no file.
  Exit 0 when no row is an error (out_of_memory is a result), 2 when some are, 1 when all are (or a device
  the plan names is not here); 130 on Ctrl-C, 143 on SIGTERM, 129 on SIGHUP (the rows so far are written)
  --set NAME=VALUE  a setting in place of the file's own, in every experiment whose measure takes it; a list
                    or range sweeps it: --set budget=24GB --set sessions=[1,2] (checked as the file is)
  --json   {"experiments": [{"experiment", "rows", "ok_rows", "check": null | {"what", "tolerance", "pass",
           "worst"}, "stopped": null | "cancelled" | "time_limit", "json", "csv"}, ...]}: those that ended
           ("json" and "csv" null where nothing was written)`,
};

function version(): string {
  return (readJsonFile(join(packageRoot(), 'package.json'), 2 ** 20, 'a package.json') as { version: string }).version;
}

/** Options that take a value, so that a negative number after one is its value, not an option. */
function joinNegativeValues(argv: string[], takesValue: (name: string) => boolean): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const next = argv[i + 1];
    if (a.startsWith('--') && !a.includes('=') && takesValue(a.slice(2)) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

const OPTIONS = {
  ids: { type: 'string' },
  'ids-file': { type: 'string' },
  chat: { type: 'boolean' },
  top: { type: 'string' },
  'device-memory': { type: 'string' },
  'host-budget': { type: 'string' },
  paging: { type: 'string' },
  turns: { type: 'boolean' },
  version: { type: 'boolean' },
  'max-new-tokens': { type: 'string' },
  device: { type: 'string' },
  budget: { type: 'string' },
  'kv-pool-tokens': { type: 'string' },
  placement: { type: 'string' },
  ring: { type: 'string' },
  prefetch: { type: 'string' },
  steer: { type: 'string', multiple: true },
  prompt: { type: 'string' },
  temperature: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  seed: { type: 'string' },
  'ignore-eos': { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Options that only one command reads: given to another, they are refused rather than ignored. */
const ONE_COMMAND_FLAGS: Record<string, string> = { top: 'logits', 'device-memory': 'info' };

/** --steer L:S (repeatable): scale decoder layer L's output by S. */
function parseSteer(texts: string[] | undefined): Steer[] | undefined {
  if (texts === undefined) return undefined;
  return texts.map((text) => {
    const m = /^\s*(\d+)\s*:\s*([^:\s]+)\s*$/.exec(text);
    const scale = Number(m?.[2]);
    if (!m || !Number.isFinite(scale)) throw usage(`--steer: "${text}" is not LAYER:SCALE (e.g. --steer 2:0.9)`);
    return { layer: Number(m[1]), scale };
  });
}

/** The model options of logits, generate and info, checked. */
function modelOptions(values: Record<string, unknown>): ModelOptions {
  const paging = values['paging'] as string | undefined;
  if (paging !== undefined && !PAGING_POLICIES.includes(paging as PagingPolicy)) throw usage(`--paging: "${paging}" is not one of ${PAGING_POLICIES.join(', ')}`);
  const kvPoolTokens = parseCount(values['kv-pool-tokens'] as string | undefined, '--kv-pool-tokens');
  const prefetch = parseCount(values['prefetch'] as string | undefined, '--prefetch');
  const placement = values['placement'] as string | undefined;
  if (placement !== undefined && !PLACEMENTS.includes(placement as Placement))
    throw usage(`--placement: "${placement}" is not one of ${PLACEMENTS.join(', ')}`);
  return { kvPoolTokens: kvPoolTokens || undefined, placement: placement as Placement | undefined, ring: values['ring'] as string | undefined, prefetch, paging: paging as PagingPolicy | undefined };
}

async function withModel<T>(values: Record<string, unknown>, modelArg: string | undefined, body: (model: Model, rt: Runtime) => Promise<T>): Promise<T> {
  if (!modelArg) throw usage('missing MODEL (a model directory or synthetic:<spec>)');
  const options = modelOptions(values);
  const rt = await Runtime.open({ device: (values['device'] as string | undefined) ?? 'cpu', budget: values['budget'] as string | undefined, hostBudget: values['host-budget'] as string | undefined });
  try {
    const bar = loadingBar(modelArg);
    let model: Model;
    try {
      model = await rt.loadModel(modelArg, { ...options, onProgress: bar.onProgress });
    } finally {
      bar.end();
    }
    return await body(model, rt);
  } finally {
    rt.dispose();
  }
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--version' || argv[0] === '-V') {
    console.log(`vramlab ${version()}`);
    return;
  }
  const commandUsage = argv[0] === undefined ? undefined : COMMAND_USAGE[argv[0]];
  if (commandUsage && argv.slice(1).some((a) => a === '--help' || a === '-h')) {
    console.log(commandUsage);
    return;
  }
  if (argv[0] === 'report') return runReport(argv.slice(1)); // its own options
  if (argv[0] === 'repl') {
    process.exitCode = await (await import('./repl/main.js')).runRepl(argv.slice(1));
    return;
  }
  if (argv[0] === 'check' || argv[0] === 'plan' || argv[0] === 'run') {
    process.exitCode = await (await import('./experiment.js')).runExperimentCommand(argv);
    return;
  }
  let parsed;
  try {
    const takesValue = (name: string) => (OPTIONS as Record<string, { type: string }>)[name]?.type === 'string';
    parsed = parseArgs({ args: joinNegativeValues(argv, takesValue), options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw argsError(e, commandUsage ? argv[0] : undefined, OPTIONS);
  }
  const { values, positionals } = parsed;
  const [command, modelArg, ...rest] = positionals;
  if (values.version) {
    console.log(`vramlab ${version()}`);
    return;
  }
  if (values.help || command === undefined || command === 'help') {
    console.log(USAGE);
    return;
  }
  if (!(['logits', 'generate', 'info', 'demo'] as (string | undefined)[]).includes(command)) {
    const commands = [...Object.keys(COMMAND_USAGE), 'repl', 'help'];
    throw usage(commands.includes(command) ? `the command comes first: vramlab ${command} ...` : `unknown command "${command}"${suggest(command, commands)}`);
  }
  const extra = command === 'demo' ? [modelArg, ...rest].filter((x) => x !== undefined) : rest;
  if (extra.length > 0) throw usage(`unexpected argument "${extra[0]}"`);
  for (const [flag, only] of Object.entries(ONE_COMMAND_FLAGS))
    if (values[flag as keyof typeof values] !== undefined && command !== only) throw usage(`--${flag} is an option of vramlab ${only}, not ${command}`);
  const json = values.json ?? false;

  switch (command) {
    case 'logits': {
      checkPromptFlags(values);
      topFlag(values);
      const steer = parseSteer(values.steer);
      await withModel(values, modelArg, (model) => runLogits(model, modelArg as string, values, steer, json));
      return;
    }
    case 'generate': {
      const flags = generateFlags(values);
      await withModel(values, modelArg, (model, rt) => runGenerate(model, rt, modelArg as string, flags, json));
      return;
    }
    case 'info':
      await runInfo(modelArg, { device: values.device ?? 'cpu', budget: values.budget, memory: values['device-memory'] }, modelOptions(values), json);
      return;
    case 'demo':
      await runDemo({ device: values.device ?? 'cpu', budget: values.budget, json });
      return;
  }
}

guardOutput();
main(process.argv.slice(2)).catch((e: unknown) => {
  if (e instanceof VramlabError) {
    process.stderr.write(`vramlab: ${e.message}\n`);
    process.exitCode = 1;
  } else {
    const err = e as Error;
    process.stderr.write(`vramlab: internal error: ${err?.message ?? String(e)}\n`);
    if (process.env['VRAMLAB_DEBUG']) process.stderr.write(`${err?.stack ?? ''}\n`);
    process.exitCode = 2;
  }
});
