// What the language learns about models: text prompts through the directory's tokenizer.json
// (@huggingface/tokenizers), exact ids; a directory without a tokenizer is a diagnostic.
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSource, compileSource } from '../../dsl/index.js';
import { directoryFacts, encodeText } from '../../dsl/models.js';
import { copyModel, GQA, MHA } from '../helpers.js';

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
