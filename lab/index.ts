// The public API of vramlab's lab: plans and building them, the measures, running plans (to the end,
// or step by step), results and result files, DataFrames, figures, notebook display and the report.
export { buildExperiment, buildPlan, type ExperimentDef } from './build.js';
export { applyEdit, describeEdit, expectLogits, expectPaused, steerOf } from './edits.js';
export {
  barLabel,
  bars,
  color,
  evidence,
  type Figure,
  fixed,
  groupBy,
  measured,
  type FigureNote,
  barLayout,
  barTops,
  type RefLine,
  type Mark,
  hline,
  inUnit,
  layout,
  modelName,
  lines,
  missingNote,
  type Point,
  point,
  points,
  rowLabel,
  runsNote,
  sizeLabel,
  spread,
  swept,
  withLines,
  wrapText,
} from './figures.js';
export { drawnLayout, figureHtml, plotlyScript } from './figure-html.js';
export { type Cell, columnsOf, escapeHtml, frameHtml, medians, resultsFrame, rowsFrame } from './frames.js';
export { fullNumber, integerTicks, linearRange, logAxis } from './axes.js';
export { columnFormat, columnFormats, type ColumnFormat, columnTitle, counted, csvNumber, isBytesField, numberFormat, sizeUnit, timeUnit } from './columns.js';
export { addVector, promptIds, randomVector } from './inputs.js';
export { allMetrics, type CompileContext, defaultMetrics, type Loaded, type Measure, type StepContext, type StepPause } from './measure.js';
export { actBoundTokensPerS, type AgentsStep, type AgentSystem, agentContext, agents } from './measures/agents.js';
export { agentsFigures, latencyFigure, throughputFigure, timelineFigure as agentTimelineFigure } from './measures/agents-figures.js';
export { batchDecode, type BatchDecodeStep, batchFigure, floorRatioFigure } from './measures/batch-decode.js';
export { type BreakpointStep, breakpoints, resumeFigure } from './measures/breakpoints.js';
export { type LayerOverhead, OVERHEAD_LIMIT_MS, overheadByLayer, overheadSummary } from './measures/breakpoints-overhead.js';
export { copyBandwidth, copyBandwidthFigure, type CopyStep } from './measures/copy-bandwidth.js';
export { bytesPerTokenFigure, decode, decodeFigure, type DecodeStep } from './measures/decode.js';
export { steering, steeringFigure, type SteerStep } from './measures/steering.js';
export { type PagingBaseline, type PagingStep, paging, contextTokens } from './measures/paging.js';
export { bytesMovedFigure, demandFigure, memoryTimeFigure, pagingFigures, type ResidencyTimeline, residencyFigure, wallFigure } from './measures/paging-figures.js';
export {
  bandwidthFigure,
  overlapMs,
  type ProbeStep,
  type ReferenceStep,
  streaming,
  type StreamingStep,
  type StreamStep,
  timeline,
  timelineFigure,
  vramFigure,
} from './measures/streaming.js';
export { inNotebook, type Progress, progress, show, showHtml, showMarkdown } from './notebook.js';
export { type AddPlan, type EditPlan, type ExperimentPlan, type LoadPlan, type Plan, type PromptPlan, promptTokens, type Step, type SweepPoint } from './plan.js';
export { allMeasures, figureSet, figuresFor, findMeasure, measureNamed, measureNames, measuresWith, registerMeasure, settingsOf } from './registry.js';
export { renderReport, type ReportInput, shortNames } from './report.js';
export { checkResults, fileErrorReason, readResults, rowsToCsv, writeFileAtomic, writeResultsJson } from './result-files.js';
export { prepareOutDir, readRowLog, repairResultFiles, resultPaths, RowLog, type WrittenResults, writeResultFiles } from './results-folder.js';
export type { Check, ExperimentResult, ResultRow, Results, Row, TimelineEntry } from './results.js';
export { currentCommit } from './run-context.js';
export { type LoadProgress, type RunEvent, runPlan, type RunOptions, type RunProgress, type RunResult, runSteps, type StepOptions } from './runner.js';
export {
  BASELINES_SETTING,
  EDIT_SETTINGS,
  MODEL_SETTINGS,
  modelValue,
  NEW_TOKENS_SETTING,
  PLACEMENT_SETTING,
  type ModelValue,
  type PromptValue,
  type Report,
  type SettingKind,
  type SettingSpec,
  type SettingSpecs,
  type SettingsView,
  type SettingValue,
  UNIVERSAL_SETTINGS,
} from './settings.js';
export { iqr, mean, median, quantile, relativeError } from './stats.js';
