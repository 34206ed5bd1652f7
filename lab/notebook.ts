// notebook.ts: showing results in a tslab (Jupyter, TypeScript) notebook: figures drawn inline with
// plotly.js embedded once per notebook (offline), DataFrames and results as HTML tables, and live
// progress in one updatable output. Outside a notebook (node, tests) the same calls print text.
//
//   import { show, progress } from 'vramlab';
//   show(results);                  // the rows as a table, then the figures
//   show(bandwidthFigure(results));
//   const p = progress('placements', 4); ... p.update(1, 'stream'); ... p.done();
import { createRequire } from 'node:module';
import type { DataFrame } from 'danfojs-node';
import { escapeHtml, frameHtml, isFrame, resultsFrame } from './frames.js';
import { figureHtml, plotlyScript } from './figure-html.js';
import { type Figure, figureTitle } from './figures.js';
import { figureSet } from './registry.js';
import type { Results } from './results.js';

/** The part of tslab's display API used here (tslab's `Display`). */
interface Display {
  html(s: string): void;
  markdown(s: string): void;
}

interface Tslab {
  display: Display;
  newDisplay(): Display;
}

let tslab: { public: Tslab; jupyter: { lastWriteDisplayData: unknown } } | null | undefined;

/**
 * tslab when this process is a tslab kernel running a cell, else null: tslab's display works once its
 * kernel has set `lastWriteDisplayData` (its own readiness test). The kernel runs the project's tslab
 * when the notebook lies inside the project, as notebooks/ does, so this require finds the same one.
 */
function kernel(): Tslab | null {
  if (tslab === undefined) {
    try {
      const require = createRequire(import.meta.url);
      tslab = { public: require('tslab') as Tslab, jupyter: require('tslab/dist/jupyter.js') as { lastWriteDisplayData: unknown } };
    } catch {
      tslab = null; // tslab is a development dependency: absent where vramlab is installed as a library
    }
  }
  return tslab && tslab.jupyter.lastWriteDisplayData != null ? tslab.public : null;
}

/** True inside a tslab notebook kernel. */
export function inNotebook(): boolean {
  return kernel() !== null;
}

let plotlyEmbedded = false;

/** A figure's HTML; the first one of the kernel's life carries plotly.js for the whole notebook. */
function figureMarkup(figure: Figure): string {
  const script = plotlyEmbedded ? '' : plotlyScript();
  plotlyEmbedded = true;
  return script + figureHtml(figure);
}

function isFigure(v: unknown): v is Figure {
  return typeof v === 'object' && v !== null && Array.isArray((v as Figure).data) && typeof (v as Figure).layout === 'object';
}

function isResults(v: unknown): v is Results {
  return typeof v === 'object' && v !== null && typeof (v as Results).benchmark === 'string' && Array.isArray((v as Results).rows);
}

/**
 * Shows a figure (or several), a DataFrame or a results object (its rows as a table, then its
 * figures) in the cell's output. Outside a notebook it prints the table, or the figures' titles.
 */
export function show(value: Figure | readonly Figure[] | DataFrame | Results): void {
  const nb = kernel();
  if (isFrame(value)) {
    if (nb) nb.display.html(frameHtml(value));
    else console.log(value.toString());
  } else if (isResults(value)) {
    show(resultsFrame(value));
    const { figures, notes } = figureSet(value);
    show(figures);
    for (const n of notes) showHtml(`<p><em>${escapeHtml(n)}</em></p>`);
  } else {
    const figures = isFigure(value) ? [value] : (value as readonly Figure[]);
    for (const f of figures) {
      if (nb) nb.display.html(figureMarkup(f));
      else console.log(`[figure: ${figureTitle(f)}] (drawn in a notebook, or by vramlab report)`);
    }
  }
}

/** Shows markup as is (notebook) or its text (elsewhere). */
export function showHtml(markup: string): void {
  const nb = kernel();
  if (nb) nb.display.html(markup);
  else console.log(markup.replace(/<[^>]*>/g, ''));
}

/** Shows Markdown text (notebook) or prints it (elsewhere): conclusions written from the data, code. */
export function showMarkdown(text: string): void {
  const nb = kernel();
  if (nb) nb.display.markdown(text);
  else console.log(text);
}

export interface Progress {
  /** Sets the count done (0..total) and an optional note (what runs now). */
  update(done: number, note?: string): void;
  /** Marks the work finished, with an optional final note. */
  done(note?: string): void;
}

/**
 * Live progress in one output of the cell (tslab's updatable display), redrawn at most every 100 ms;
 * outside a notebook, one line when done.
 */
export function progress(label: string, total: number): Progress {
  const nb = kernel();
  const out = nb?.newDisplay();
  let last = 0;
  let count = 0;
  const draw = (note: string, force: boolean): void => {
    const now = Date.now();
    if (!out || (!force && now - last < 100)) return;
    last = now;
    out.html(
      `<div class="vramlab-progress"><progress value="${count}" max="${total}" style="width:20em"></progress> ` +
        `${escapeHtml(label)}: ${count} of ${total}${note ? ` · ${escapeHtml(note)}` : ''}</div>`,
    );
  };
  draw('', true);
  return {
    update(done: number, note = ''): void {
      count = Math.max(0, Math.min(total, done));
      draw(note, count === total);
    },
    done(note = ''): void {
      count = total;
      if (out) draw(note || 'done', true);
      else console.log(`${label}: ${total} of ${total}${note ? ` · ${note}` : ''}`);
    },
  };
}
