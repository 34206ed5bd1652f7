// vramlab logits: each position's token beside its text (with a tokenizer.json), the --top K next
// tokens against the reference logits, the --json "top" field, and prompts past max_position_embeddings
// refused as generate refuses them.
import { describe, expect, it } from 'vitest';
import { GQA, MHA, reference, vramlab } from '../helpers.js';

interface Top {
  id: number;
  text: string | null;
  logit: number;
  prob: number;
}

function json(...args: string[]): { logits: number[][]; top?: Top[][] } {
  const r = vramlab('logits', ...args, '--json');
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as { logits: number[][]; top?: Top[][] };
}

/** The k largest of a row, ids by logit (ties: the lower id). */
function topIds(row: number[], k: number): number[] {
  return row
    .map((v, id) => [v, id] as const)
    .sort((a, b) => b[0] - a[0] || a[1] - b[1])
    .slice(0, k)
    .map(([, id]) => id);
}

const PROMPT = 'The capital of France is'; // <s> The capital of France is: ids 1, 267, 451, 294, 322, 276

describe('vramlab logits --top K', () => {
  it("--json: the K most likely next tokens a position, as the reference logits order them, with their text and probability", () => {
    const ref = reference(GQA);
    const out = json(GQA, '--ids', ref.input_ids.join(','), '--top', '3');
    expect(Object.keys(out)).toEqual(['logits', 'top']);
    expect(out.top).toHaveLength(ref.input_ids.length);
    out.top!.forEach((row, i) => {
      const logits = out.logits[i] as number[];
      expect(row.map((t) => t.id)).toEqual(topIds(ref.logits[i] as number[], 3));
      expect(row.map((t) => t.logit)).toEqual(row.map((t) => logits[t.id]));
      const max = Math.max(...logits);
      const z = logits.reduce((a, v) => a + Math.exp(v - max), 0);
      for (const t of row) expect(t.prob).toBeCloseTo(Math.exp(t.logit - max) / z, 12);
    });
  });

  it('the table: each position, its token with its text, and the top K with theirs', () => {
    const r = vramlab('logits', GQA, '--prompt', PROMPT, '--top', '2');
    expect(r.status).toBe(0);
    const top = json(GQA, '--prompt', PROMPT, '--top', '2').top!;
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('position  token           top 2 next tokens: id "text" logit');
    const tokens = ['1 "<s>"', '267 "The"', '451 " capital"', '294 " of"', '322 " France"', '276 " is"'];
    expect(lines.slice(1)).toEqual(
      tokens.map((t, i) => `${String(i).padStart(8)}  ${t.padEnd(14)}  ${top[i]!.map((c) => `${c.id} ${JSON.stringify(c.text)} ${c.logit.toFixed(4)}`).join('    ')}`),
    );
  });

  it('without a tokenizer.json: ids alone, "text" null; without --top the argmax and no "top"', () => {
    const ref = reference(MHA);
    const out = json(MHA, '--ids', ref.input_ids.join(','), '--top', '2');
    expect(out.top!.every((row) => row.every((t) => t.text === null))).toBe(true);
    expect(Object.keys(json(MHA, '--ids', '1,2'))).toEqual(['logits']);
    const ids = ref.input_ids.slice(0, 3).join(',');
    const logits = json(MHA, '--ids', ids).logits[0] as number[];
    const best = topIds(ref.logits[0] as number[], 1)[0] as number;
    const lines = vramlab('logits', MHA, '--ids', ids).stdout.split('\n');
    expect(lines[0]).toBe('position  token  top 1 next token: id logit');
    expect(lines[1]).toBe(`       0  ${String(ref.input_ids[0]).padEnd(5)}  ${best} ${(logits[best] as number).toFixed(4)}`);
  });

  it('K past the vocabulary is the whole vocabulary; K must be a positive integer', () => {
    expect(json('synthetic:hidden=64,layers=1,heads=2,ffn=128,vocab=40', '--ids', '1', '--top', '100').top![0]).toHaveLength(40);
    const r = vramlab('logits', MHA, '--ids', '1', '--top', '0');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('vramlab: --top: "0" must be a positive integer (see vramlab --help)\n');
  });
});

describe('vramlab logits: the prompt', () => {
  it("past the model's max_position_embeddings: one line, as generate says it", () => {
    const r = vramlab('logits', 'synthetic:tiny,max_pos=8', '--ids', '1,2,3,4,5,6,7,8,9');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("vramlab: a 9-token prompt is more than the model's max_position_embeddings 8\n");
    expect(json('synthetic:tiny,max_pos=8', '--ids', '1,2,3,4,5,6,7,8').logits).toHaveLength(8);
  });

  it.each(['0x10', '1e3', '1,,2', ' ', '-1', '2.0'])('--ids %j is refused as --ids-file refuses it', (ids) => {
    const r = vramlab('logits', MHA, '--ids', ids);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^vramlab: --ids: "[^"]*" is not a token id \(non-negative integers separated by commas or spaces\)\n$/);
  });

  it('ids separated by spaces, or commas and spaces, are the same prompt', () => {
    expect(json(MHA, '--ids', '1 2  3').logits).toEqual(json(MHA, '--ids', '1, 2,3').logits);
  });
});
