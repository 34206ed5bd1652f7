// What the language learns about models: text prompts through the directory's tokenizer.json
// (@huggingface/tokenizers), exact ids; a directory without a tokenizer, a tokenizer of a model type
// the library would guess at, and one giving ids past the vocabulary are diagnostics.
import { join } from 'node:path';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSource, compileSource } from '../../dsl/index.js';
import { directoryFacts, encodeText } from '../../dsl/models.js';
import { copyModel, GQA, MHA, vramlabError } from '../helpers.js';

const temps: string[] = [];
afterAll(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('text prompts', () => {
  it('tokenizes with the fixture tokenizer.json: <s> first, merged words, bytes for the rest', () => {
    expect(encodeText(GQA, 'The cat sat on the mat')).toEqual([1, 267, 453, 330, 283, 261, 440]);
    expect(encodeText(GQA, 'Hello, wörld! 123')).toEqual([1, 75, 305, 111, 114, 47, 272, 198, 185, 117, 111, 103, 36, 35, 52, 53, 54]);
  });

  it('compiles a text prompt to its ids, keeping the text', () => {
    const text = `experiment s {\n  measure = steering\n  model = "${GQA}"\n  layer = 1\n  scale = 0.9\n  prompt = "The cat sat on the mat"\n}`;
    const step = compileSource(text).experiments[0]?.steps[0];
    expect(step && 'prompt' in step ? step.prompt : null).toEqual({ ids: [1, 267, 453, 330, 283, 261, 440], text: 'The cat sat on the mat' });
  });

  it('reports a model directory without tokenizer.json at the prompt', () => {
    const dir = copyModel(MHA);
    temps.push(dir);
    const text = `experiment s {\n  measure = decode\n  model = "${dir}"\n  prompt = "hi"\n}`;
    expect(checkSource(text, { file: 't.vlab' }).map((d) => `${d.line}:${d.column} ${d.code} ${d.message}`)).toEqual([
      `4:12 reference a text prompt needs ${join(dir, 'tokenizer.json')}, which does not exist`,
    ]);
  });

  it('reads layers, hidden size, vocabulary and positions from config.json', () => {
    expect(directoryFacts(GQA)).toEqual({ layers: 4, hidden: 128, vocab: 512, maxPositions: 1024 });
  });
});

describe('tokenizer.json checked, not guessed at', () => {
  /** A copy of the GQA fixture whose tokenizer.json is edited by `edit`. */
  function withTokenizer(edit: (tok: { model: Record<string, unknown> }) => void): { dir: string; path: string } {
    const dir = copyModel(GQA);
    temps.push(dir);
    const path = join(dir, 'tokenizer.json');
    const tok = JSON.parse(readFileSync(path, 'utf8')) as { model: Record<string, unknown> };
    edit(tok);
    writeFileSync(path, JSON.stringify(tok));
    return { dir, path };
  }
  const check = (dir: string) => checkSource(`experiment s {\n  measure = decode\n  model = "${dir}"\n  prompt = "The cat"\n}`, { file: 't.vlab' }).map((d) => `${d.line}:${d.column} ${d.code} ${d.message}`);

  it.each([
    ['an unknown model type', 'WordLevel', 'model.type "WordLevel" is not a tokenizer model vramlab reads (BPE, Unigram, WordPiece)'],
    ['no model type (the library guessed BPE from the fields)', undefined, 'model.type is missing (BPE, Unigram, WordPiece)'],
    ['a model type that is not a string', 7, 'model.type 7 is not a tokenizer model vramlab reads (BPE, Unigram, WordPiece)'],
  ])('%s is refused, naming the file', (_, type, message) => {
    const { dir, path } = withTokenizer((tok) => (tok.model['type'] = type));
    expect(vramlabError(() => encodeText(dir, 'The cat')).message).toBe(`${path}: ${message}`);
    expect(check(dir)).toEqual([`4:12 reference ${path}: ${message}`]);
  });

  it("an id past the model's vocabulary names the tokenizer.json (encodeText and check)", () => {
    const { dir, path } = withTokenizer((tok) => ((tok.model['vocab'] as Record<string, number>)['The'] = 700));
    const message = `${path} gives token id 700, outside the vocabulary of ${dir} (0..511, config.json's vocab_size): is it this model's tokenizer?`;
    expect(vramlabError(() => encodeText(dir, 'The cat')).message).toBe(message);
    expect(encodeText(dir, 'a cat')).toEqual(encodeText(GQA, 'a cat')); // the ids it may give are given
    expect(check(dir)).toEqual([`4:12 reference ${message}`]);
  });
});
