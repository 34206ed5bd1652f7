// placement.ts: where a figure's labels go so that no label covers a bar, a reference line, a marker
// or another label, nor leaves its bar's slot. Positions are computed in data coordinates from the
// figure's own size: a figure is FIGURE_HEIGHT px high with MARGIN_TOP and MARGIN_BOTTOM px of
// margins, so a label LABEL_PX high spans LABEL_PX * (y range) / (plot px) of the y axis; it is
// drawn at least PLOT_WIDTH_PX wide (figureHtml), so a bar's slot is at least PLOT_WIDTH_PX / bars.
import type { Annotation } from 'plotly.js-dist-min';

export const FIGURE_HEIGHT = 420;
export const MARGIN_TOP = 90;
export const MARGIN_BOTTOM = 110;
/** The height of an 11 px label with its padding, in pixels. */
export const LABEL_PX = 16;
/** Pixels kept free around a label. */
const PAD_PX = 3;
/** The narrowest plot a figure is drawn in (a notebook cell), in pixels: labels are placed for it. */
export const PLOT_WIDTH_PX = 800;
/** The width of one character of an 11 px label, in pixels (an upper bound for digits and letters). */
export const CHAR_PX = 6.5;

export const plotHeightPx = (height = FIGURE_HEIGHT): number => height - MARGIN_TOP - MARGIN_BOTTOM;

export interface BarTop {
  /** The category on the x axis. */
  x: string;
  /** The highest thing drawn for the bar: its top, or the top of its error bar. */
  top: number;
  /** The label, or its parts: on one line when that fits the slot, else a part a line, else the first part alone. */
  label: string | readonly string[];
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

/** Pixels a label keeps from either edge of its bar's slot. */
const SLOT_PAD_PX = 4;

/** A label's forms, widest first: its parts on one line, a part a line, its first part alone. */
const forms = (label: string | readonly string[]): string[][] => {
  const parts = typeof label === 'string' ? [label] : [...label];
  return [[parts.join(' ')], parts, parts.slice(0, 1)];
};

/** True when every line fits a slot `slotPx` wide. */
const fits = (lines: readonly string[], slotPx: number): boolean => lines.length > 0 && Math.max(...lines.map((l) => l.length)) * CHAR_PX <= slotPx - 2 * SLOT_PAD_PX;

/**
 * The lines of the labels of bars in slots `slotPx` wide: each label's parts on one line, else a
 * part a line, else its first part alone, all labels in one form (the widest that every label that
 * fits at all fits in, so that the bars read alike); null for a label whose first part does not fit
 * (it is left out; the bar's hover has its value).
 */
export function fitLabels(labels: readonly (string | readonly string[])[], slotPx: number): (string[] | null)[] {
  const all = labels.map(forms);
  const shown = all.filter((f) => fits(f[2] as string[], slotPx));
  const form = [0, 1, 2].find((k) => shown.every((f) => fits(f[k] as string[], slotPx))) ?? 2;
  return all.map((f) => (fits(f[2] as string[], slotPx) ? (f[form] as string[]) : null));
}

/**
 * Labels above bars (and their error bars), each inside its bar's slot (fitLabels) and moved up past
 * any line or marker of its slot it would cover, and the top of the y axis that holds them all.
 * `obstacles(unitsPerPx)` gives what to keep clear at a scale, since pixel sizes of lines and markers
 * are data sizes only once the range is known. The annotations are at the bars' category indices.
 */
export function placeBarLabels(bars: readonly BarTop[], obstacles: (unitsPerPx: number) => Obstacle[], height = FIGURE_HEIGHT): { annotations: Partial<Annotation>[]; top: number } {
  const px = plotHeightPx(height);
  const slotPx = PLOT_WIDTH_PX / Math.max(1, bars.length);
  const lines = fitLabels(bars.map((b) => b.label), slotPx);
  const highest = Math.max(0, ...bars.map((b) => b.top), ...obstacles(0).map((o) => o.y1));
  let range = highest > 0 ? highest * 1.1 : 1;
  const heightPx = lines.map((l) => (l?.length ?? 0) * LABEL_PX);
  let ys: number[] = [];
  for (let round = 0; round < 20; round++) {
    const unit = range / px;
    const pad = PAD_PX * unit;
    const all = obstacles(unit);
    ys = bars.map((b, i) => {
      const h = (heightPx[i] as number) * unit;
      const clear = all.filter((o) => o.x === undefined || o.x === b.x);
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
    const need = Math.max(...ys.map((y, i) => y + ((heightPx[i] as number) + PAD_PX) * unit), highest) * 1.02;
    if (need <= range) break;
    range = need;
  }
  return {
    // x is the bar's place on the category axis: plotly reads a category name that looks like a number ("128") as a position.
    annotations: lines.flatMap((l, i) => (l ? [{ xref: 'x', x: i, yref: 'y', y: ys[i], yanchor: 'bottom', text: l.join('<br>'), showarrow: false, font: { size: 11 } }] : [])),
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
