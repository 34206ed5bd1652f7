// The HTML report: plotly.js once, a section per results file with its evidence, table and figures.
import { beforeAll, describe, expect, it } from 'vitest';
import { figuresFor, plotlyScript, readResults, renderReport, type Results, shortNames } from '../../lab/index.js';
import { BENCH_RESULTS, breakpointsResults, cpuStreamingResults } from '../results-fixtures.js';

let streaming: Results;
let html: string;
const decode = readResults(`${BENCH_RESULTS}/decode.json`);
const correctness = readResults(`${BENCH_RESULTS}/correctness.json`);

beforeAll(async () => {
  streaming = await cpuStreamingResults();
  html = renderReport(
    [
      { source: 'bench/results/decode.json', results: decode },
      { source: 'cpu-streaming.json', results: streaming },
      { source: 'breakpoints.json', results: breakpointsResults() },
      { source: 'bench/results/correctness.json', results: correctness },
    ],
    { title: 'test <report>' },
  );
});

describe('renderReport', () => {
  it('embeds plotly.js exactly once and loads nothing from the network', () => {
    const plotly = plotlyScript();
    expect(html.split(plotly)).toHaveLength(2);
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/);
  });

  it('has a section per results file, with its source, evidence and a table row per result row', () => {
    const sections = html.split('<section').slice(1);
    expect(sections).toHaveLength(4);
    expect(sections[0]).toContain('bench/results/decode.json');
    expect(sections[0]).toContain(decode.device);
    expect(sections[3]).toContain('bench/results/correctness.json');
    for (const [i, r] of [decode, streaming, breakpointsResults(), correctness].entries())
      expect(sections[i]!.split('<tbody>')[1]!.split('</tbody>')[0]!.match(/<tr>/g)).toHaveLength(r.rows.length);
  });

  it('numbers the figures in order and draws every figure of every result', () => {
    const expected = [decode, streaming, breakpointsResults(), correctness].reduce((n, r) => n + figuresFor(r).length, 0);
    expect(expected).toBe(1 + 6 + 1 + 0);
    const ids = [...html.matchAll(/<div class="vramlab-figure" id="([^"]+)"/g)].map((m) => m[1]);
    expect(ids).toEqual(Array.from({ length: expected }, (_, i) => `figure-${i + 1}`));
    expect(html).toContain(`${expected} figures`);
  });

  it('escapes the title', () => {
    expect(html).toContain('<title>test &lt;report&gt;</title>');
  });
});

describe('the contents', () => {
  it('name each results file by the fewest trailing path parts that tell it apart, models by name', () => {
    expect(shortNames(['bench/results/decode.json', '/tmp/cpu/decode.json', 'bench/results/paging.json', 'bench/results/paging.json'])).toEqual([
      'results/decode.json',
      'cpu/decode.json',
      'bench/results/paging.json (3)',
      'bench/results/paging.json (4)',
    ]);
    const page = renderReport([
      { source: 'bench/results/decode.json', results: decode },
      { source: '/tmp/cpu/decode.json', results: { ...decode, model: '../test/fixtures/tiny-llama-gqa' } },
    ]);
    expect(page).toContain('<li><a href="#results-1">results/decode.json</a>: decode, NVIDIA H200');
    expect(page).toContain('<li><a href="#results-2">cpu/decode.json</a>: decode, NVIDIA H200');
    expect(page).toContain(', tiny-llama-gqa</li>');
    expect(page).not.toContain('../test/fixtures');
  });

  it('results of one source with different experiments are named by experiment, not by their place in the list', () => {
    const page = renderReport([
      { source: 'experiments/decode.vlab (cpu)', results: { ...decode, experiment: 'decode' } },
      { source: 'experiments/decode.vlab (cpu)', results: { ...decode, experiment: 'decode_sessions' } },
      { source: 'experiments/steering.vlab (cpu)', results: { ...decode, experiment: 'steering' } },
    ]);
    const names = [...page.matchAll(/<li><a href="#results-\d+">([^<]*)<\/a>/g)].map((m) => m[1]);
    expect(names).toEqual(['decode.vlab (cpu) · decode', 'decode.vlab (cpu) · decode_sessions', 'steering.vlab (cpu)']);
  });
});
