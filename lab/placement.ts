// placement.ts: where a figure's labels go so that no label covers a bar, a reference line, a marker
// or another label, and integer ticks for integer axes. Positions are computed in data coordinates
// from the figure's own size: a figure is FIGURE_HEIGHT px high with MARGIN_TOP and MARGIN_BOTTOM
// px of margins, so a label LABEL_PX high spans LABEL_PX * (y range) / (plot px) of the y axis.
import type { Annotation, LayoutAxis } from 'plotly.js-dist-min';

export const FIGURE_HEIGHT = 420;
export const MARGIN_TOP = 90;
export const MARGIN_BOTTOM = 110;
/** The height of an 11 px label with its padding, in pixels. */
export const LABEL_PX = 16;
/** Pixels kept free around a label. */
const PAD_PX = 3;
/** The narrowest plot a figure is drawn in (a notebook cell), in pixels: labels are placed for it. */
const PLOT_WIDTH_PX = 800;
/** The width of one character of an 11 px label, in pixels (an upper bound for digits and letters). */
export const CHAR_PX = 6.5;

export const plotHeightPx = (height = FIGURE_HEIGHT): number => height - MARGIN_TOP - MARGIN_BOTTOM;

export interface BarTop {
  /** The category on the x axis. */
  x: string;
  /** The highest thing drawn for the bar: its top, or the top of its error bar. */
  top: number;
  label: string;
}

/** Something a label must not cover on the y axis: a reference line (every x) or a marker (one x). */
export interface Obstacle {
  y0: number;
  y1: number;
  /** The category it is drawn at; undefined: across the plot. */
  x?: string;
}

/** A horizontal reference line as an obstacle: its width and a few pixels either side. */
export const lineObstacle = (y: number, unitsPerPx: number): Obstacle => ({ y0: y - 2 * unitsPerPx, y1: y + 2 * unitsPerPx });

/**
 * Labels above bars (and their error bars), each moved up past any line, marker or neighbouring bar
 * it would cover, and the top of the y axis that holds them all. `obstacles(unitsPerPx)` gives what
 * to keep clear at a scale, since pixel sizes of lines and markers are data sizes only once the range
 * is known.
 */
export function placeBarLabels(bars: readonly BarTop[], obstacles: (unitsPerPx: number) => Obstacle[], height = FIGURE_HEIGHT): { annotations: Partial<Annotation>[]; top: number } {
  const px = plotHeightPx(height);
  const slotPx = PLOT_WIDTH_PX / Math.max(1, bars.length);
  const highest = Math.max(0, ...bars.map((b) => b.top), ...obstacles(0).map((o) => o.y1));
  let range = highest > 0 ? highest * 1.1 : 1;
  let ys: number[] = [];
  for (let round = 0; round < 20; round++) {
    const unit = range / px;
    const h = LABEL_PX * unit;
    const pad = PAD_PX * unit;
    const all = obstacles(unit);
    ys = bars.map((b, i) => {
      // A label wider than its bar (80% of its slot) reaches over the neighbouring bars.
      const spill = (b.label.length * CHAR_PX - 0.8 * slotPx) / 2 > 0.1 * slotPx;
      const near = spill ? bars.filter((_, j) => Math.abs(j - i) === 1).map((n) => ({ y0: 0, y1: n.top })) : [];
      const clear = [...all.filter((o) => o.x === undefined || o.x === b.x), ...near];
      let y = b.top + pad;
      for (let moved = true; moved; ) {
        moved = false;
        for (const o of clear)
          // Clear means below or above with `pad` between, written as the same sums the move makes,
          // so that a label just moved past an obstacle is clear of it in floating point too.
          if (!(o.y1 + pad <= y || o.y0 >= y + h + pad)) {
            y = o.y1 + pad;
            moved = true;
          }
      }
      return y;
    });
    const need = Math.max(...ys.map((y) => y + h + pad), highest) * 1.02;
    if (need <= range) break;
    range = need;
  }
  return {
    // x is the bar's place on the category axis: plotly reads a category name that looks like a number ("128") as a position.
    annotations: bars.map((b, i) => ({ xref: 'x', x: i, yref: 'y', y: ys[i], yanchor: 'bottom', text: b.label, showarrow: false, font: { size: 11 } })),
    top: range,
  };
}

/**
 * Pixel shifts for labels at `ys` (data units, `unitsPerPx` a pixel) that keep each LABEL_PX clear of
 * the one below: labels of reference lines a few pixels apart are stacked upward.
 */
export function stackShifts(ys: readonly number[], unitsPerPx: number): number[] {
  const order = ys.map((y, i) => ({ y, i })).sort((a, b) => a.y - b.y);
  const shifts = new Array<number>(ys.length).fill(0);
  let lastPx = -Infinity;
  for (const { y, i } of order) {
    const at = unitsPerPx > 0 ? y / unitsPerPx : 0;
    const want = Math.max(at, lastPx + LABEL_PX);
    shifts[i] = want - at;
    lastPx = want;
  }
  return shifts;
}

/**
 * Ticks for an axis of integers (sessions, layers, batch sizes): each value when there are at most 12,
 * else a whole-number step (1, 2, 5, 10, ...) giving at most 10 ticks.
 */
export function integerTicks(values: readonly number[]): Partial<LayoutAxis> {
  const xs = [...new Set(values)].sort((a, b) => a - b);
  if (xs.length <= 12) return { tickmode: 'array', tickvals: xs, ticktext: xs.map(String) };
  const span = (xs[xs.length - 1] as number) - (xs[0] as number);
  let step = 1;
  for (let k = 0; span / step > 10; k++) step = ([1, 2, 5][k % 3] as number) * 10 ** Math.floor(k / 3);
  return { tickmode: 'linear', tick0: 0, dtick: step, tickformat: 'd' };
}

/**
 * Ticks of a log axis over `values`: at powers of ten alone when they span two decades or more
 * (plotly's default adds bare 2s and 5s between them, which read as values), else plotly's own.
 */
export function logTicks(values: readonly number[]): Partial<LayoutAxis> {
  const positive = values.filter((v) => Number.isFinite(v) && v > 0);
  return positive.length > 0 && Math.max(...positive) / Math.min(...positive) >= 100 ? { dtick: 1 } : {};
}
