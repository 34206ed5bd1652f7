// The public API of vramlab's runtime: the typed surface of the native library, nothing above it
// (plans, runs, results and figures are the lab's: lab/index.ts).
export { Paused } from './breakpoint.js';
export { deviceKind, type DeviceKind, isDeviceName } from './device.js';
export { type ErrorCode, VramlabError } from './errors.js';
export { type GenerateOptions, sampler, splitmix64, uniform, xoshiro128ss } from './generation.js';
export { argmax, Logits } from './logits.js';
export { packageRoot } from './native.js';
export { Model, Runtime } from './runtime.js';
export { Scheduler, type SchedulerOptions, type StepReport, type WorkResult } from './scheduler.js';
export { Session, type SessionModel } from './session.js';
export { type DType, type ModelShape, NAMED_SHAPES, parseSyntheticSpec, type SyntheticSpec, weightBytes } from './synthetic.js';
export * from './types.js'; // the API's plain data types, every one public
export { formatSize, parseSize } from './units.js';
