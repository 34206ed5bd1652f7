// The package's entry: the runtime and the .vlab language under one import, and run()/runFile(),
// which run .vlab text with its progress in the notebook cell (here, outside one: a line when done).
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DiagnosticsError, figuresFor, run, runFile, Runtime, show } from '../index.js';

const EXPERIMENTS = join(import.meta.dirname, '..', 'experiments');

afterEach(() => vi.restoreAllMocks());

describe('run', () => {
  it('runs .vlab text and returns each experiment\'s results, printing a summary line', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const [copies] = await run(
      `experiment copies {
        measure = copy_bandwidth
        device = cpu
        baselines = [pinned, pageable]
        copies = 2
        repeat = 2
        sweep size in [1 MiB, 2 MiB]
      }`,
      { file: 'copies.vlab' },
    );
    expect(copies!.benchmark).toBe('copy_bandwidth');
    expect(copies!.rows).toHaveLength(2 * 2 * 2);
    expect(copies!.rows.every((r) => r['status'] === 'ok' && typeof r['bandwidth_gbps'] === 'number')).toBe(true);
    expect(log.mock.calls).toHaveLength(1);
    expect(String(log.mock.calls[0]![0])).toMatch(/^copies\.vlab: (\d+) of \1 · copies: 8 rows \(8 ok\)$/);
    expect(figuresFor(copies!)).toHaveLength(1);
  });

  it('throws the diagnostics of text that does not check', async () => {
    await expect(run('experiment broken {\n  measure = nonsense\n}', { file: 'broken.vlab' })).rejects.toThrow(DiagnosticsError);
    await expect(run('experiment broken {\n  measure = nonsense\n}', { file: 'broken.vlab' })).rejects.toThrow(/^broken\.vlab:2:\d+: error/);
  });
});

describe('runFile', () => {
  it('runs an experiments/ file for the device asked for, and its results show', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    const [bandwidth] = await runFile(join(EXPERIMENTS, 'bandwidth.vlab'), { device: 'cpu' });
    expect(bandwidth!.device).toMatch(/^cpu/);
    expect(new Set(bandwidth!.rows.map((r) => r['bytes']))).toEqual(new Set([2 ** 20, 4 * 2 ** 20]));
    show(bandwidth!);
    expect(log.mock.calls.at(-1)?.[0]).toBe('[figure: Host-to-device copy bandwidth] (drawn in a notebook, or by vramlab report)');
  });

  it('exports the runtime too', async () => {
    const rt = await Runtime.open({ device: 'cpu' });
    expect(rt.deviceName()).toMatch(/^cpu/);
    rt.dispose();
  });
});
