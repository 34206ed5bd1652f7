// figure-html.ts: the HTML that draws a figure on a page that has plotly.js (plotlyScript embeds it,
// offline): a <div> never narrower than the plot width its labels were placed for, its layout's
// bottom margin grown by the rows its legend takes there.
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Layout } from 'plotly.js-dist-min';
import type { Figure } from './figures.js';
import { FIGURE_HEIGHT, PLOT_WIDTH_PX } from './placement.js';
import { readTextFile } from '../runtime/files.js';

let plotlySource: string | undefined;

/** A <script> element holding plotly.js (plotly.js-dist-min, about 4.7 MB): a page needs it once. */
export function plotlyScript(): string {
  plotlySource ??= readTextFile(createRequire(import.meta.url).resolve('plotly.js-dist-min'), 64 * 2 ** 20, 'plotly.js').replace(/<\/script/gi, '<\\/script');
  return `<script>${plotlySource}</script>`;
}

/** JSON that is safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** The height of a row of a horizontal legend, and the width of an entry besides its text (the symbol, the gaps), in pixels. */
const LEGEND_ROW_PX = 20;
const LEGEND_ITEM_PX = 46;
/** The width of one character of a 12 px legend entry, in pixels (an upper bound). */
const LEGEND_CHAR_PX = 7;

/** The rows a horizontal legend of `names` takes in `widthPx`. */
function legendRows(names: readonly string[], widthPx: number): number {
  let rows = names.length > 0 ? 1 : 0;
  let used = 0;
  for (const name of names) {
    const w = name.length * LEGEND_CHAR_PX + LEGEND_ITEM_PX;
    if (used > 0 && used + w > widthPx) {
      rows++;
      used = 0;
    }
    used += w;
  }
  return rows;
}

/**
 * A figure's layout as drawn, and the least width it is drawn at (its plot PLOT_WIDTH_PX wide, which
 * the labels were placed for): the bottom margin and the height grown by the legend's rows past the
 * first at that width, so that a legend of many entries stays under the x axis title and the plot
 * keeps its height.
 */
export function drawnLayout(f: Figure): { layout: Layout; minWidth: number } {
  const margin = f.layout.margin as { l: number; r: number; b: number };
  const names = f.layout.showlegend === false ? [] : f.data.map((t) => t as { showlegend?: boolean; name?: string }).filter((t) => t.showlegend !== false && t.name).map((t) => String(t.name));
  const extra = Math.max(0, legendRows(names, PLOT_WIDTH_PX) - 1) * LEGEND_ROW_PX;
  const layout = extra > 0 ? { ...f.layout, height: (f.layout.height ?? FIGURE_HEIGHT) + extra, margin: { ...f.layout.margin, b: margin.b + extra } } : f.layout;
  return { layout, minWidth: PLOT_WIDTH_PX + margin.l + margin.r };
}

/**
 * A figure as a <div> (never narrower than drawnLayout's least width: a narrower page scrolls it)
 * and the <script> that draws it once plotly.js is on the page (it waits up to 10 s for it, then
 * says so in the div).
 */
export function figureHtml(figure: Figure, id = `vramlab-figure-${randomUUID()}`): string {
  const { layout, minWidth } = drawnLayout(figure);
  return `<div class="vramlab-figure" id="${id}" style="min-width: ${minWidth}px"></div>
<script>(function draw(tries) {
  var div = document.getElementById(${scriptJson(id)});
  if (window.Plotly) return window.Plotly.newPlot(div, ${scriptJson(figure.data)}, ${scriptJson(layout)}, { responsive: true, displaylogo: false });
  if (tries > 200) { div.textContent = 'plotly.js did not load: this page needs the plotly.js script that vramlab embeds once per notebook or report'; return; }
  setTimeout(function () { draw(tries + 1); }, 50);
})(0);</script>`;
}
