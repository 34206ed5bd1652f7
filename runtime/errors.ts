// errors.ts: every error vramlab throws at users is a VramlabError with a stable code. Native
// statuses map to the codes of vramlab.h; the TypeScript layers add their own.

/** The codes of vramlab.h's vl_status (the library names them: vl_status_name), then the TypeScript layers' own. */
export const ERROR_CODES = [
  'VL_ERR_INVALID_ARGUMENT',
  'VL_ERR_IO',
  'VL_ERR_FORMAT',
  'VL_ERR_UNSUPPORTED',
  'VL_ERR_OUT_OF_MEMORY',
  'VL_ERR_DEVICE',
  'VL_ERR_NO_DEVICE',
  'VL_ERR_STATE',
  'VL_ERR_INTERNAL',
  'VL_ERR_NUMERIC',
  'VL_ERR_NOT_BUILT',
  'VL_ERR_USAGE',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** The ErrorCode of a status name (vl_status_name); VL_ERR_INTERNAL for one this vramlab does not know. */
export function errorCode(name: string): ErrorCode {
  return (ERROR_CODES as readonly string[]).includes(name) ? (name as ErrorCode) : 'VL_ERR_INTERNAL';
}

/** A value as an error message shows it: 42, "cpu", null, undefined, an object, an array, a function. */
export function shown(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'object' && v !== null) return 'an object';
  if (typeof v === 'bigint' || typeof v === 'symbol') return `a ${typeof v}`;
  return JSON.stringify(v) ?? String(v);
}

export class VramlabError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'VramlabError';
    this.code = code;
  }
}
