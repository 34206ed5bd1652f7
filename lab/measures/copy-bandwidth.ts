// copy-bandwidth.ts: the copy_bandwidth measure (seed 000): host-to-device copies of `size` bytes
// from pinned or pageable host memory, `copies` timed per run: the link every streaming result is
// read against.
import { logAxis } from '../axes.js';
import { columnTitle, sizeUnit } from '../columns.js';
import { type Figure, layout, measured, lines, missingNote, rowLabel, runsNote, swept } from '../figures.js';
import type { Measure } from '../measure.js';
import { PLOT_WIDTH_PX } from '../placement.js';
import type { Step } from '../plan.js';
import type { Results } from '../results.js';
import { BASELINES_SETTING } from '../settings.js';

/** Host-to-device copies of `bytes` from pinned or pageable memory, `copies` timed per run. */
export interface CopyStep extends Step {
  op: 'copy';
  baseline: 'pinned' | 'pageable';
  bytes: number;
  copies: number;
}

const PARAMETERS = ['copies'];

/** Host-to-device bandwidth against copy size (in the size unit of the largest), one line per baseline (pinned, pageable). */
export function copyBandwidthFigure(r: Results): Figure {
  const sizes = r.rows.map((row) => row['bytes']).filter((b): b is number => typeof b === 'number');
  const { unit, scale } = sizeUnit(Math.max(0, ...sizes));
  const rows = r.rows.map((row) => ({ ...row, size: typeof row['bytes'] === 'number' ? row['bytes'] / scale : null }));
  const fields = swept(r.rows, PARAMETERS);
  const { data, ps, missing } = lines(rows, (row) => rowLabel(row, String(row['baseline']), fields), 'size', 'bandwidth_gbps', 'GB/s');
  return {
    data,
    layout: layout('Host-to-device copy bandwidth', r, {
      xaxis: { title: { text: columnTitle('bytes', unit) }, ...logAxis(sizes.map((b) => b / scale), PLOT_WIDTH_PX) },
      yaxis: { title: { text: columnTitle('bandwidth_gbps') }, rangemode: 'tozero' },
    }, [runsNote(ps), missingNote(missing)]),
  };
}

export const copyBandwidth: Measure<CopyStep> = {
  name: 'copy_bandwidth',
  doc: 'times `copies` host-to-device copies of `size` bytes',
  settings: {
    baselines: BASELINES_SETTING,
    size: { kind: { type: 'size' }, doc: 'bytes per copy (default 1 GiB)', sweep: true, default: 2 ** 30 },
    copies: { kind: { type: 'integer', min: 1, max: 1000 }, doc: 'copies timed per run (default 5)', sweep: false, default: 5 },
  },
  baselines: ['pinned', 'pageable'],
  metrics: ['bandwidth_gbps'],
  check: null,
  rowFields: { baseline: 'string', bytes: 'number' },
  parameters: PARAMETERS,

  compile(c) {
    return c.baselines.map((b) => ({ op: 'copy', baseline: b as CopyStep['baseline'], bytes: c.number('size'), copies: c.number('copies'), point: c.point }));
  },

  params(s) {
    return { baseline: s.baseline, bytes: s.bytes, copies: s.copies };
  },

  async *run(s, c) {
    const rt = await c.device({ measured: true });
    return { bandwidth_gbps: await rt.copyBandwidth({ bytes: s.bytes, pinned: s.baseline === 'pinned', reps: s.copies }) };
  },

  figures(r, note) {
    return measured(r, 'bandwidth_gbps', 'Host-to-device copy bandwidth', note) ? [copyBandwidthFigure(r)] : [];
  },
};
