// registry.ts: the measures vramlab knows, by name, wired in one place. A measure is supported when
// its module is here (or registered at run time, as a test or a notebook may): the .vlab language
// checks and compiles experiments of it, the runner runs them, results files of it are checked against
// its row fields and drawn with its figures.
import { VramlabError } from '../runtime/errors.js';
import type { Data } from 'plotly.js-dist-min';
import { type Figure, figureTitle } from './figures.js';
import type { Measure } from './measure.js';
import { agents } from './measures/agents.js';
import { batchDecode } from './measures/batch-decode.js';
import { breakpoints } from './measures/breakpoints.js';
import { copyBandwidth } from './measures/copy-bandwidth.js';
import { decode } from './measures/decode.js';
import { paging } from './measures/paging.js';
import { steering } from './measures/steering.js';
import { streaming } from './measures/streaming.js';
import type { Step } from './plan.js';
import type { Results } from './results.js';
import { MEASURE_SETTING, type SettingSpecs, UNIVERSAL_SETTINGS } from './settings.js';

// The order is the order they are listed in (diagnostics, docs).
const measures = new Map<string, Measure>([copyBandwidth, streaming, decode, breakpoints, steering, paging, agents, batchDecode].map((m): [string, Measure] => [m.name, m]));

/**
 * Adds a measure; returns a function that removes it again. A name already taken is an error (a
 * measure is replaced by removing it first).
 */
export function registerMeasure<S extends Step>(m: Measure<S>): () => void {
  if (measures.has(m.name)) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `a measure named ${m.name} is already registered`);
  measures.set(m.name, m);
  return () => {
    if (measures.get(m.name) === m) measures.delete(m.name);
  };
}

/** The measure of that name, or undefined. */
export function findMeasure(name: string): Measure | undefined {
  return measures.get(name);
}

/** The measure of that name; a VramlabError naming the registered ones when there is none. */
export function measureNamed(name: string): Measure {
  const m = measures.get(name);
  if (!m) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `there is no measure ${name} (measures: ${measureNames().join(', ')})`);
  return m;
}

/** The registered measures' names, in order. */
export function measureNames(): string[] {
  return [...measures.keys()];
}

export function allMeasures(): Measure[] {
  return [...measures.values()];
}

/** The values a trace draws: y, or x for horizontal bars, or z for a heatmap. */
function traceValues(t: Data): unknown[] {
  const d = t as { x?: unknown; y?: unknown; z?: unknown; orientation?: string };
  const v = d.z ?? (d.orientation === 'h' ? d.x : d.y);
  return Array.isArray(v) ? (v.flat(2) as unknown[]) : [];
}

/** True for a trace with nothing to see: no values, or every value 0 or missing. */
function emptyTrace(t: Data): boolean {
  return traceValues(t).every((v) => v === null || v === undefined || v === 0);
}

/**
 * The figures a result has data for (its measure's; none for other benchmarks, correctness) with
 * their traces that draw nothing left out, and a line for each figure left out saying why.
 */
export function figureSet(r: Results): { figures: Figure[]; notes: string[] } {
  const notes: string[] = [];
  const figures: Figure[] = [];
  for (const f of measures.get(r.benchmark)?.figures(r, (line) => notes.push(line)) ?? []) {
    const data = f.data.filter((t) => !emptyTrace(t));
    if (data.length > 0) figures.push({ ...f, data });
    else notes.push(`${figureTitle(f)}: not drawn: every value is 0 or missing`);
  }
  return { figures, notes };
}

/** Every figure a result has data for (figureSet's figures). */
export function figuresFor(r: Results): Figure[] {
  return figureSet(r).figures;
}

/** Every setting an experiment of `m` takes, by name: `measure`, those of every experiment, then its own. */
export function settingsOf(m: Measure): SettingSpecs {
  return { measure: MEASURE_SETTING, ...UNIVERSAL_SETTINGS, ...m.settings };
}

/** The names of the measures that take a setting. */
export function measuresWith(setting: string): string[] {
  return allMeasures().filter((m) => setting in settingsOf(m)).map((m) => m.name);
}
