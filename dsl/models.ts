// models.ts: what the checker needs to know about a model before running it (layers, hidden size,
// vocabulary, positions), from a synthetic spec or a model directory's config.json, and text prompts
// through the directory's tokenizer.json (@huggingface/tokenizers: the maintained tokenizers, no
// hand-written BPE).
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { VramlabError } from '../runtime/errors.js';
import { fileExists, MAX_CONFIG_BYTES, readJsonObject } from '../runtime/files.js';
import { eosTokenIds } from '../runtime/generation.js';
import { parseSyntheticSpec } from '../runtime/synthetic.js';

export interface ModelFacts {
  layers: number;
  hidden: number;
  vocab: number;
  maxPositions: number;
}

export function syntheticFacts(spec: string): ModelFacts {
  const s = parseSyntheticSpec(spec).shape;
  return { layers: s.numLayers, hidden: s.hiddenSize, vocab: s.vocabSize, maxPositions: s.maxPositionEmbeddings };
}

function positiveInt(config: Record<string, unknown>, key: string, dir: string): number {
  const v = config[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new VramlabError('VL_ERR_FORMAT', `${join(dir, 'config.json')} has no positive integer ${key}`);
  return v;
}

/**
 * The facts of a HuggingFace Llama directory; a VramlabError when it is not one, or when its EOS ids
 * cannot be read as a load reads them (generation_config.json), so that check finds what run would.
 */
export function directoryFacts(dir: string): ModelFacts {
  if (!fileExists(dir)) throw new VramlabError('VL_ERR_IO', `no such model directory ${dir}`);
  if (!statSync(dir).isDirectory()) throw new VramlabError('VL_ERR_IO', `${dir} is not a directory`);
  const path = join(dir, 'config.json');
  if (!fileExists(path)) throw new VramlabError('VL_ERR_IO', `${dir} has no config.json`);
  const config = readJsonObject(path, MAX_CONFIG_BYTES, 'a config.json');
  const maxPositions = typeof config['max_position_embeddings'] === 'number' ? (config['max_position_embeddings'] as number) : 4096;
  const facts = {
    layers: positiveInt(config, 'num_hidden_layers', dir),
    hidden: positiveInt(config, 'hidden_size', dir),
    vocab: positiveInt(config, 'vocab_size', dir),
    maxPositions,
  };
  eosTokenIds(dir, facts.vocab);
  return facts;
}

export function tokenizerPath(dir: string): string {
  return join(dir, 'tokenizer.json');
}

/** Whether the directory has a tokenizer.json (a loop of links or an unreadable path is an error, not "no"). */
export function hasTokenizer(dir: string): boolean {
  return fileExists(tokenizerPath(dir));
}

/** The largest tokenizer.json read (the largest real ones, of vocabularies of 256K tokens, are about 35 MB). */
const MAX_TOKENIZER_BYTES = 128 * 2 ** 20;
/** The tokenizer models @huggingface/tokenizers implements (it guesses at others: one is refused instead). */
const TOKENIZER_MODELS = ['BPE', 'Unigram', 'WordPiece'];

interface LoadedTokenizer {
  tokenizer: Tokenizer;
  /** The model's vocabulary size (config.json): the ids the tokenizer may give. */
  vocab: number;
}

const tokenizers = new Map<string, LoadedTokenizer>();

/** The directory's tokenizer.json (with tokenizer_config.json when there is one), read once. */
function tokenizerOf(dir: string): LoadedTokenizer {
  let tok = tokenizers.get(dir);
  if (!tok) {
    const path = tokenizerPath(dir);
    if (!fileExists(path)) throw new VramlabError('VL_ERR_IO', `${dir} has no tokenizer.json`);
    const json = readJsonObject(path, MAX_TOKENIZER_BYTES, 'a tokenizer.json') as { model?: { type?: unknown } };
    const type = json.model?.type;
    if (typeof type !== 'string' || !TOKENIZER_MODELS.includes(type))
      throw new VramlabError('VL_ERR_UNSUPPORTED', `${path}: model.type ${JSON.stringify(type) ?? 'is missing'}${type === undefined ? '' : ' is not a tokenizer model vramlab reads'} (${TOKENIZER_MODELS.join(', ')})`);
    const configPath = join(dir, 'tokenizer_config.json');
    const config = fileExists(configPath) ? readJsonObject(configPath, MAX_CONFIG_BYTES, 'a tokenizer_config.json') : {};
    const vocab = directoryFacts(dir).vocab;
    try {
      tok = { tokenizer: new Tokenizer(json, config), vocab };
    } catch (e) {
      throw new VramlabError('VL_ERR_FORMAT', `${path} is not a tokenizer the tokenizers library reads: ${(e as Error).message}`);
    }
    tokenizers.set(dir, tok);
  }
  return tok;
}

/**
 * The ids of `text` under the directory's tokenizer.json, with its special tokens (e.g. BOS) unless
 * addSpecialTokens is false (a chat template's text, which writes them itself); an id outside the
 * model's vocabulary is an error naming the tokenizer.json (it is not the model's).
 */
export function encodeText(dir: string, text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
  const { tokenizer, vocab } = tokenizerOf(dir);
  const ids: number[] = tokenizer.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
  const bad = ids.find((id) => id >= vocab);
  if (bad !== undefined)
    throw new VramlabError('VL_ERR_FORMAT', `${tokenizerPath(dir)} gives token id ${bad}, outside the vocabulary of ${dir} (0..${vocab - 1}, config.json's vocab_size): is it this model's tokenizer?`);
  return ids;
}

/** The text of token ids under the directory's tokenizer.json (skipSpecialTokens: without EOS, BOS, ...). */
export function decodeIds(dir: string, ids: number[], options: { skipSpecialTokens?: boolean } = {}): string {
  return tokenizerOf(dir).tokenizer.decode(ids, { skip_special_tokens: options.skipSpecialTokens ?? false });
}
