// report.ts: a self-contained HTML report of results files: per file its evidence, its rows as a
// table and its figures; plotly.js embedded once, so the page needs no network.
import { frameHtml, escapeHtml, resultsFrame } from './frames.js';
import { evidence, figureHtml, plotlyScript } from './figures.js';
import { figuresFor } from './registry.js';
import type { Results } from './results.js';

export interface ReportInput {
  /** Where the results came from (a file path), shown in the report. */
  source: string;
  results: Results;
}

const STYLE = `
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; }
section { margin-top: 2.5em; border-top: 1px solid #ddd; }
.evidence { color: #555; font-size: 0.9em; }
.table-scroll { overflow-x: auto; margin: 1em 0; }
table.vramlab-frame { border-collapse: collapse; font-size: 0.85em; }
table.vramlab-frame th, table.vramlab-frame td { border: 1px solid #ddd; padding: 0.25em 0.6em; white-space: nowrap; }
table.vramlab-frame th { background: #f4f4f4; }
table.vramlab-frame td.num { text-align: right; font-variant-numeric: tabular-nums; }
.vramlab-figure { margin: 1em 0; }
`;

/** The report as one HTML document; figures get ids figure-1, figure-2, ... in order. */
export function renderReport(inputs: readonly ReportInput[], options: { title?: string } = {}): string {
  const title = options.title ?? 'vramlab report';
  let figures = 0;
  const sections = inputs.map(({ source, results }, i) => {
    const figs = figuresFor(results).map((f) => figureHtml(f, `figure-${++figures}`));
    return `<section id="results-${i + 1}">
<h2>${escapeHtml(results.benchmark)} <small>${escapeHtml(source)}</small></h2>
<p class="evidence">${escapeHtml(evidence(results))}</p>
<div class="table-scroll">${frameHtml(resultsFrame(results))}</div>
${figs.join('\n')}
</section>`;
  });
  const toc = inputs.map(({ source, results }, i) => `<li><a href="#results-${i + 1}">${escapeHtml(results.benchmark)}</a>: ${escapeHtml(source)}</li>`).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
${plotlyScript()}
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p>${inputs.length} results file${inputs.length === 1 ? '' : 's'}, ${figures} figure${figures === 1 ? '' : 's'}.</p>
<ul>
${toc}
</ul>
${sections.join('\n')}
</body>
</html>
`;
}
