// models.ts: what the checker needs to know about a model before running it (layers, hidden size,
// vocabulary, positions), from a synthetic spec or a model directory's config.json, and text prompts
// through the directory's tokenizer.json (@huggingface/tokenizers: the maintained tokenizers, no
// hand-written BPE).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readRegularFile } from './files.js';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { VramlabError } from '../runtime/errors.js';
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

/** The facts of a HuggingFace Llama directory; a VramlabError when it is not one. */
export function directoryFacts(dir: string): ModelFacts {
  if (!existsSync(dir)) throw new VramlabError('VL_ERR_IO', `no such model directory ${dir}`);
  if (!statSync(dir).isDirectory()) throw new VramlabError('VL_ERR_IO', `${dir} is not a directory`);
  const path = join(dir, 'config.json');
  if (!existsSync(path)) throw new VramlabError('VL_ERR_IO', `${dir} has no config.json`);
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readRegularFile(path, 16 * 2 ** 20, 'a config.json').toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof VramlabError) throw e;
    throw new VramlabError('VL_ERR_FORMAT', `${path} is not JSON: ${(e as Error).message}`);
  }
  const maxPositions = typeof config['max_position_embeddings'] === 'number' ? (config['max_position_embeddings'] as number) : 4096;
  return {
    layers: positiveInt(config, 'num_hidden_layers', dir),
    hidden: positiveInt(config, 'hidden_size', dir),
    vocab: positiveInt(config, 'vocab_size', dir),
    maxPositions,
  };
}

export function tokenizerPath(dir: string): string {
  return join(dir, 'tokenizer.json');
}

const tokenizers = new Map<string, Tokenizer>();

/** The directory's tokenizer.json, read once. */
function tokenizerOf(dir: string): Tokenizer {
  let tok = tokenizers.get(dir);
  if (!tok) {
    const path = tokenizerPath(dir);
    if (!existsSync(path)) throw new VramlabError('VL_ERR_IO', `${dir} has no tokenizer.json`);
    const configPath = join(dir, 'tokenizer_config.json');
    try {
      const json = JSON.parse(readFileSync(path, 'utf8')) as object;
      const config = existsSync(configPath) ? (JSON.parse(readFileSync(configPath, 'utf8')) as object) : {};
      tok = new Tokenizer(json, config);
    } catch (e) {
      throw new VramlabError('VL_ERR_FORMAT', `${path} is not a tokenizer the tokenizers library reads: ${(e as Error).message}`);
    }
    tokenizers.set(dir, tok);
  }
  return tok;
}

/**
 * The ids of `text` under the directory's tokenizer.json, with its special tokens (e.g. BOS) unless
 * addSpecialTokens is false (a chat template's text, which writes them itself).
 */
export function encodeText(dir: string, text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
  return tokenizerOf(dir).encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
}

/** The text of token ids under the directory's tokenizer.json (skipSpecialTokens: without EOS, BOS, ...). */
export function decodeIds(dir: string, ids: number[], options: { skipSpecialTokens?: boolean } = {}): string {
  return tokenizerOf(dir).decode(ids, { skip_special_tokens: options.skipSpecialTokens ?? false });
}
