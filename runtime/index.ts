// The public API of vramlab's runtime.
export { type ErrorCode, VramlabError } from './errors.js';
export {
  type LayerTiming,
  Logits,
  type LogitsSelection,
  type MemoryInfo,
  Model,
  type ModelInfo,
  type ModelOptions,
  type Placement,
  PLACEMENTS,
  Runtime,
  type RuntimeOptions,
  Session,
  type StepStats,
} from './runtime.js';
export { type DType, type ModelShape, NAMED_SHAPES, parseSyntheticSpec, type SyntheticSpec, weightBytes } from './synthetic.js';
export { formatSize, parseSize } from './units.js';
