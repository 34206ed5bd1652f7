// report.ts: a self-contained HTML report of results files: per file its evidence, its rows as a
// table and its figures; plotly.js embedded once, so the page needs no network.
import { counted } from './columns.js';
import { frameHtml, escapeHtml, resultsFrame } from './frames.js';
import { figureHtml, plotlyScript } from './figure-html.js';
import { evidence, modelName } from './figures.js';
import { figureSet } from './registry.js';
import type { Results } from './results.js';

export interface ReportInput {
  /** Where the results came from (a file path), shown in the report. */
  source: string;
  results: Results;
}

const STYLE = `
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; }
.source { color: #777; font-size: 0.85em; margin: 0; font-family: ui-monospace, monospace; }
section { margin-top: 2.5em; border-top: 1px solid #ddd; }
.evidence { color: #555; font-size: 0.9em; }
.table-scroll { overflow-x: auto; margin: 1em 0; }
table.vramlab-frame { border-collapse: collapse; font-size: 0.85em; }
table.vramlab-frame th, table.vramlab-frame td { border: 1px solid #ddd; padding: 0.25em 0.6em; white-space: nowrap; }
table.vramlab-frame th { background: #f4f4f4; white-space: normal; vertical-align: bottom; }
table.vramlab-frame caption { text-align: left; color: #555; font-size: 0.9em; padding: 0.2em 0; }
.table-scroll table.vramlab-frame + table.vramlab-frame { margin-top: 0.8em; }
table.vramlab-frame td.num { text-align: right; font-variant-numeric: tabular-nums; }
.vramlab-figure { margin: 1em 0; }
.left-out { color: #666; font-size: 0.9em; font-style: italic; }
`;

/**
 * Each source by the fewest trailing parts of its path that no other source ends with ("decode.json",
 * "h100/decode.json"); a source given twice is written in full with its place in the list ("a/decode.json (2)").
 */
export function shortNames(sources: readonly string[]): string[] {
  const split = sources.map((s) => s.split(/[\\/]+/).filter(Boolean));
  const names = split.map((parts, i) => {
    for (let n = 1; n < parts.length; n++) {
      const tail = parts.slice(-n).join('/');
      if (split.every((other, j) => j === i || other.slice(-n).join('/') !== tail)) return tail;
    }
    return sources[i] as string;
  });
  return names.map((name, i) => (names.indexOf(name) === i && names.lastIndexOf(name) === i ? name : `${name} (${i + 1})`));
}

/** The experiment of a result, when it has one of its own. */
function experimentOf(r: Results): string | null {
  return typeof r['experiment'] === 'string' ? r['experiment'] : null;
}

/**
 * A source named with its experiment when other inputs come from the same source with other
 * experiments (one .vlab file's results: "decode.vlab (cpu) · decode_sessions", not "... (5)").
 */
function sourceName(input: ReportInput, _: number, inputs: readonly ReportInput[]): string {
  const experiment = experimentOf(input.results);
  const others = inputs.filter((i) => i !== input && i.source === input.source);
  return experiment !== null && others.length > 0 && others.every((i) => experimentOf(i.results) !== experiment) ? `${input.source} · ${experiment}` : input.source;
}

/** What a results file holds, for the contents: its experiment or benchmark, device and model. */
function subject(r: Results): string {
  const what = typeof r['experiment'] === 'string' && r['experiment'] !== r.benchmark ? `${r['experiment']} (${r.benchmark})` : r.benchmark;
  return [what, r.device, r.model ? modelName(r.model) : ''].filter(Boolean).join(', ');
}

/** The report as one HTML document; figures get ids figure-1, figure-2, ... in order. */
export function renderReport(inputs: readonly ReportInput[], options: { title?: string } = {}): string {
  const title = options.title ?? 'vramlab report';
  let figures = 0;
  const names = shortNames(inputs.map(sourceName));
  const sections = inputs.map(({ source, results }, i) => {
    const set = figureSet(results);
    const figs = set.figures.map((f) => figureHtml(f, `figure-${++figures}`));
    const notes = set.notes.map((n) => `<p class="left-out">${escapeHtml(n)}</p>`);
    return `<section id="results-${i + 1}">
<h2>${escapeHtml(names[i] as string)} <small>${escapeHtml(subject(results))}</small></h2>
<p class="source">${escapeHtml(source)}</p>
<p class="evidence">${escapeHtml(evidence(results))}</p>
<div class="table-scroll">${frameHtml(resultsFrame(results))}</div>
${[...figs, ...notes].join('\n')}
</section>`;
  });
  const toc = inputs.map(({ results }, i) => `<li><a href="#results-${i + 1}">${escapeHtml(names[i] as string)}</a>: ${escapeHtml(subject(results))}</li>`).join('\n');
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
<p>${counted(inputs.length, 'results file')}, ${counted(figures, 'figure')}.</p>
<ul>
${toc}
</ul>
${sections.join('\n')}
</body>
</html>
`;
}
