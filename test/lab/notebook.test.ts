// Notebook display outside a notebook (vitest is no tslab kernel): the same calls print text instead
// of failing. Inside tslab they are checked by test/notebooks/ (executed notebooks in a browser).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeFigure, inNotebook, progress, readResults, resultsFrame, show, showHtml } from '../../lab/index.js';
import { BENCH_RESULTS } from '../results-fixtures.js';

const decode = readResults(`${BENCH_RESULTS}/decode.json`);
const printed = () => (console.log as unknown as { mock: { calls: unknown[][] } }).mock.calls.map((c) => String(c[0]));

afterEach(() => vi.restoreAllMocks());

describe('outside a notebook', () => {
  it('knows it is not in one', () => {
    expect(inNotebook()).toBe(false);
  });

  it('show prints a DataFrame as text, a figure as its title, results as both', () => {
    vi.spyOn(console, 'log').mockImplementation(() => {});
    show(resultsFrame(decode));
    show(decodeFigure(decode));
    show(decode);
    const out = printed();
    expect(out).toHaveLength(5);
    expect(out[0]).toContain('hf-transformers');
    expect(out[1]).toBe('[figure: Decode latency per token] (drawn in a notebook, or by vramlab report)');
    expect(out[2]).toBe(out[0]);
    expect(out[3]).toBe(out[1]);
    expect(out[4]).toBe('Host-to-device bytes per decoded token: not drawn: no row measured h2d_bytes_per_token');
  });

  it('showHtml prints the text of the markup', () => {
    vi.spyOn(console, 'log').mockImplementation(() => {});
    showHtml('<p>streaming is <b>7.1x</b> faster</p>');
    expect(printed()).toEqual(['streaming is 7.1x faster']);
  });

  it('progress prints one line when done', () => {
    vi.spyOn(console, 'log').mockImplementation(() => {});
    const p = progress('placements', 3);
    p.update(1, 'stream');
    p.update(2, 'auto');
    expect(printed()).toEqual([]);
    p.done('3 runs');
    expect(printed()).toEqual(['placements: 3 of 3 · 3 runs']);
  });
});
