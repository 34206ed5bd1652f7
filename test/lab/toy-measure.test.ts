// A measure is one module: a toy measure, written here and registered at run time, is checked,
// compiled, run, drawn and read back like the built-in ones, with no change anywhere else.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Figure, layout, lines, measured, rowLabel, swept } from '../../lab/figures.js';
import type { Measure } from '../../lab/measure.js';
import type { Step } from '../../lab/plan.js';
import { figuresFor, measureNames, registerMeasure } from '../../lab/registry.js';
import { readResults } from '../../lab/result-files.js';
import { writeResultFiles } from '../../lab/results-folder.js';
import type { Results } from '../../lab/results.js';
import { runPlan } from '../../lab/runner.js';
import { BASELINES_SETTING } from '../../lab/settings.js';
import { checkSource, compileSource, formatDiagnostics } from '../../dsl/index.js';
import { tempDir } from '../helpers.js';

interface ToyStep extends Step {
  op: 'multiply';
  baseline: 'once' | 'twice';
  value: number;
  times: number;
}

function toyFigure(r: Results): Figure {
  const { data } = lines(r.rows, (row) => rowLabel(row, String(row['baseline']), swept(r.rows, ['times'])), 'value', 'product', '');
  return { data, layout: layout('Toy product against value', r, {}) };
}

/** Multiplies `value` by `times` (twice: by 2 * times); checked against the same done by hand. */
const toy: Measure<ToyStep> = {
  name: 'toy',
  doc: 'multiplies value by times',
  settings: {
    baselines: BASELINES_SETTING,
    value: { kind: { type: 'real' }, doc: 'what is multiplied (required)', sweep: true, required: 'add value = N' },
    times: { kind: { type: 'integer', min: 1, max: 5 }, doc: 'by how much (default 2)', sweep: true, default: 2 },
  },
  baselines: ['once', 'twice'],
  metrics: ['product'],
  onRequest: ['runs_before'],
  check: 'the product against value x times x the factor',
  rowFields: { baseline: 'string', value: 'number' },
  parameters: ['times'],
  validate(s, report) {
    if (s.values('value').some((v) => v === 0)) report('value', 'unsupported', 'value 0 multiplies to nothing worth measuring');
  },
  compile(c) {
    return c.baselines.map((b) => ({ op: 'multiply', baseline: b as ToyStep['baseline'], value: c.number('value'), times: c.number('times'), point: c.point }));
  },
  params(s) {
    return { baseline: s.baseline, value: s.value, times: s.times };
  },
  async *run(s, c) {
    c.checkpoint();
    const product = s.value * s.times * (s.baseline === 'twice' ? 2 : 1);
    c.compared(Math.abs(product - s.value * s.times * (s.baseline === 'twice' ? 2 : 1)));
    return { product, runs_before: c.run };
  },
  figures(r, note) {
    return measured(r, 'product', 'toy product', note) ? [toyFigure(r)] : [];
  },
};

const SOURCE = `experiment t {
  measure   = toy
  baselines = [once, twice]
  repeat    = 2
  warmup    = 0
  times     = 3
  metrics   = [product, runs_before]
  sweep value in [1.5, 4]
}`;

let unregister: () => void;
beforeAll(() => {
  unregister = registerMeasure(toy);
});
afterAll(() => unregister());

describe('a measure registered at run time', () => {
  it('is a measure of the language: checked with its own settings, kinds and rules', () => {
    expect(measureNames()).toContain('toy');
    expect(checkSource(SOURCE, { file: 't.vlab' })).toEqual([]);
    const bad = 'experiment t {\n  measure = toy\n  times = 9\n  size = 1 MB\n  valeu = 2\n}';
    expect(formatDiagnostics(checkSource(bad, { file: 't.vlab' }))).toBe(
      [
        't.vlab:1:12: error: experiment t (measure toy) has no value\n  hint: add value = N',
        't.vlab:3:11: error: times must be from 1 to 5, got 9',
        't.vlab:4:3: error: size does not apply to measure toy\n  hint: size is for copy_bandwidth',
        't.vlab:5:3: error: unknown setting valeu\n  hint: settings of toy: measure, device, budget, repeat, warmup, time_limit, metrics, max_points, baselines, value, times (did you mean value?)',
      ].join('\n'),
    );
    expect(formatDiagnostics(checkSource('experiment t {\n  measure = toy\n  value = 0\n}', { file: 't.vlab' }))).toBe('t.vlab:3:3: error: value 0 multiplies to nothing worth measuring');
  });

  it('compiles to its own steps, one per baseline and sweep point', () => {
    const plan = compileSource(SOURCE, { file: 't.vlab' });
    expect(plan.experiments[0]).toMatchObject({ measure: 'toy', device: 'cpu', model: null, repeat: 2, warmup: 0, metrics: ['product', 'runs_before'] });
    expect(plan.experiments[0]!.steps).toEqual([
      { op: 'multiply', baseline: 'once', value: 1.5, times: 3, point: { value: 1.5 } },
      { op: 'multiply', baseline: 'twice', value: 1.5, times: 3, point: { value: 1.5 } },
      { op: 'multiply', baseline: 'once', value: 4, times: 3, point: { value: 4 } },
      { op: 'multiply', baseline: 'twice', value: 4, times: 3, point: { value: 4 } },
    ]);
  });

  it('runs: a row per measured run with its parameters, metrics and check; figures; a results file read back', async () => {
    const result = (await runPlan(compileSource(SOURCE, { file: 't.vlab' }))).experiments[0]!;
    expect(result.rows.map((r) => [r['baseline'], r['value'], r['run_id'], r['product'], r['runs_before'], r['status']])).toEqual([
      ['once', 1.5, 0, 4.5, 0, 'ok'],
      ['once', 1.5, 1, 4.5, 1, 'ok'],
      ['twice', 1.5, 0, 9, 0, 'ok'],
      ['twice', 1.5, 1, 9, 1, 'ok'],
      ['once', 4, 0, 12, 0, 'ok'],
      ['once', 4, 1, 12, 1, 'ok'],
      ['twice', 4, 0, 24, 0, 'ok'],
      ['twice', 4, 1, 24, 1, 'ok'],
    ]);
    expect(result.check).toEqual({ what: toy.check, tolerance: 1e-3, pass: true, worst: 0 });
    const [figure] = figuresFor(result);
    expect(figure!.data.map((d) => [(d as { name: string }).name, (d as { y: number[] }).y])).toEqual([
      ['once', [4.5, 12]],
      ['twice', [9, 24]],
    ]);
    const dir = tempDir();
    try {
      const { json } = writeResultFiles(dir, 't', result);
      expect(readResults(json).rows).toHaveLength(8);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is gone once removed: an unknown choice again, and its results files have no figures', () => {
    unregister();
    try {
      expect(formatDiagnostics(checkSource(SOURCE, { file: 't.vlab' }))).toMatch(/^t\.vlab:2:15: error: measure has no choice toy\n/);
      expect(figuresFor({ benchmark: 'toy', device: 'd', commit: 'c', rows: [{ baseline: 'once', value: 1, product: 2 }] })).toEqual([]);
    } finally {
      unregister = registerMeasure(toy);
    }
  });
});
