// The public API of vramlab's lab: plans, running them, results and result files, DataFrames,
// figures, notebook display and the report.
export { type ExperimentResult, runPlan, type RunOptions, type RunProgress, type RunResult } from './runner.js';
export {
  BASELINES,
  type BreakpointStep,
  type CopyStep,
  type DecodeStep,
  type EditPlan,
  type ExperimentPlan,
  type LoadPlan,
  type Measure,
  MEASURES,
  METRICS,
  type Plan,
  type PromptPlan,
  type ReferenceStep,
  type SteerStep,
  type Step,
  type StreamStep,
  type SweepPoint,
} from './plan.js';
export { type ResultRow, rowsToCsv, writeResultFiles } from './result-files.js';
export { type Cell, columnsOf, escapeHtml, formatNumber, frameHtml, median, medians, resultsFrame, rowsFrame } from './frames.js';
export {
  bandwidthFigure,
  bytesPerTokenFigure,
  copyBandwidthFigure,
  decodeFigure,
  evidence,
  type Figure,
  figureHtml,
  figuresFor,
  overlapMs,
  plotlyScript,
  resumeFigure,
  steeringFigure,
  timeline,
  timelineFigure,
  vramFigure,
} from './figures.js';
export { inNotebook, type Progress, progress, show, showHtml, showMarkdown } from './notebook.js';
export { renderReport, type ReportInput } from './report.js';
export { checkResults, readResults, type Results, type Row, type TimelineEntry } from './results.js';
