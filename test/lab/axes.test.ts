// Axes from their data: log axes ticked at 1, 2 and 5 x 10^k in full (issue 30: the agents figures'
// log axes read "2 3 4 ... 10 2 3", so that 300 tokens/s read "3"), value ranges that hold what is
// drawn, and bar labels that fit their bar's slot or are left out.
import { describe, expect, it } from 'vitest';
import { fitLabels, placeBarLabels } from '../../lab/placement.js';
import { fullNumber, integerTicks, linearRange, logAxis } from '../../lab/index.js';

describe('logAxis', () => {
  const ticks = (values: number[], px = 220) => logAxis(values, px).ticktext;

  it.each([
    ['tokens/s of the agents on the CPU, 60 to 700', [60, 250, 700], ['100', '200', '500']],
    ['P99 latency, 3 to 90 ms', [3, 12, 90], ['5', '10', '20', '50', '100']],
    ['resume against recompute, 0.005 to 10.8 ms', [0.005, 0.0099, 1.74, 10.8], ['0.01', '0.1', '1', '10']],
    ['copy sizes of 1 and 4 MiB in MB', [1.048576, 4.194304], ['1', '2', '3', '4']],
    ['a narrow range, 300 to 350', [300, 320, 350], ['280', '300', '320', '340', '360', '380']],
    ['the GPU copy sizes, 67 to 1074 MB', [67.1, 268.4, 1073.7], ['100', '200', '500', '1,000']],
    ['eight decades on a short axis: every other power of ten', [1e-3, 1e5], ['0.01', '1', '100', '10,000']],
  ])('%s: %j', (_, values, expected) => {
    expect(ticks(values)).toEqual(expected);
  });

  it('ticks in the range, at least 24 px apart, written in full; the range holds every value', () => {
    for (const values of [[60, 700], [0.005, 10.8], [1.05, 4.19], [3, 90], [1e-3, 1e5], [17, 18]]) {
      const axis = logAxis(values, 220);
      const [lo, hi] = axis.range as [number, number];
      const vals = axis.tickvals as number[];
      expect(vals.length, String(values)).toBeGreaterThanOrEqual(2);
      expect(axis.ticktext).toEqual(vals.map(fullNumber));
      for (const v of vals) expect(Math.log10(v)).toBeGreaterThanOrEqual(lo);
      for (const v of vals) expect(Math.log10(v)).toBeLessThanOrEqual(hi);
      for (let i = 1; i < vals.length; i++) expect((Math.log10(vals[i]! / vals[i - 1]!) * 220) / (hi - lo)).toBeGreaterThanOrEqual(24);
      expect(lo).toBeLessThan(Math.log10(Math.min(...values)));
      expect(hi).toBeGreaterThan(Math.log10(Math.max(...values)));
    }
  });

  it('leaves out what is not a positive number', () => {
    expect(logAxis([0, -1, Number.NaN, 10, 1000], 220).ticktext).toEqual(['10', '100', '1,000']);
    expect(logAxis([0], 220)).toEqual({ type: 'log' });
  });
});

describe('fullNumber', () => {
  it('writes numbers in full, without an exponent or an SI suffix, and without float noise', () => {
    expect([0.005, 0.1 * 3, 300, 20000, 1e-6].map(fullNumber)).toEqual(['0.005', '0.3', '300', '20,000', '0.000001']);
  });
});

describe('linearRange', () => {
  it('from 0 when the values reach under half the largest, else around them', () => {
    expect(linearRange([0.5, 2])).toEqual([0, 2.16]);
    const [lo, hi] = linearRange([3.77, 4.0, 4.66]); // the paging demand on the CPU, in MB, and its 4 MB budget
    expect(lo).toBeCloseTo(3.77 - 0.89 * 0.08, 9);
    expect(hi).toBeCloseTo(4.66 + 0.89 * 0.08, 9);
    expect(linearRange([])).toEqual([0, 1]);
    expect(linearRange([5, 5])).toEqual([4.5, 5.5]);
  });
});

describe('integerTicks', () => {
  it('each value up to 12 of them, else a 1, 2, 5 step', () => {
    expect(integerTicks([4, 1, 2, 2])).toEqual({ tickmode: 'array', tickvals: [1, 2, 4], ticktext: ['1', '2', '4'] });
    expect(integerTicks(Array.from({ length: 40 }, (_, i) => i))).toMatchObject({ tickmode: 'linear', dtick: 5 });
  });
});

describe('bar labels fit their slot', () => {
  it('on one line, else a part a line, else the first part, else none', () => {
    const parts = ['0.29 s', '(0.96x bound)'];
    expect(fitLabels([parts], 200)).toEqual([['0.29 s (0.96x bound)']]);
    expect(fitLabels([parts], 100)).toEqual([['0.29 s', '(0.96x bound)']]);
    expect(fitLabels([parts], 60)).toEqual([['0.29 s']]);
    expect(fitLabels([parts], 40)).toEqual([null]);
    expect(fitLabels(['1.23 MB'], 80)).toEqual([['1.23 MB']]);
  });

  it('the labels of a figure in one form: the widest every label fits', () => {
    const labels = [['0.416 GB/s', '(7% of pinned)'], ['0.636 GB/s', '(10% of pinned)'], ['a label too wide for any slot here']];
    expect(fitLabels(labels, 100)).toEqual([['0.416 GB/s'], ['0.636 GB/s'], null]);
    expect(fitLabels(labels, 120)).toEqual([['0.416 GB/s', '(7% of pinned)'], ['0.636 GB/s', '(10% of pinned)'], null]);
  });

  it('12 bars on an 800 px plot: short labels, each at its bar\'s index, above its bar; a label too wide for every form left out', () => {
    const bars = Array.from({ length: 12 }, (_, i) => ({ x: `b${i}`, top: i + 1, label: i === 5 ? ['a label far too wide for any slot'] : [`${i + 1} ms`, '(1.00x bound)'] }));
    const { annotations, top } = placeBarLabels(bars, () => []);
    expect(annotations.map((a) => a.x)).toEqual([0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11]);
    expect(annotations.map((a) => a.text)).toEqual(['1 ms', '2 ms', '3 ms', '4 ms', '5 ms', '7 ms', '8 ms', '9 ms', '10 ms', '11 ms', '12 ms']);
    for (const a of annotations) expect(a.y as number).toBeGreaterThan(bars[a.x as number]!.top);
    expect(top).toBeGreaterThan(12);
  });
});
