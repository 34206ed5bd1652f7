// errors.ts: every error vramlab throws at users is a VramlabError with a stable code. Native
// statuses map to the codes of vramlab.h; the TypeScript layers add their own.

export type ErrorCode =
  | 'VL_ERR_INVALID_ARGUMENT'
  | 'VL_ERR_IO'
  | 'VL_ERR_FORMAT'
  | 'VL_ERR_UNSUPPORTED'
  | 'VL_ERR_OUT_OF_MEMORY'
  | 'VL_ERR_DEVICE'
  | 'VL_ERR_NO_DEVICE'
  | 'VL_ERR_STATE'
  | 'VL_ERR_INTERNAL'
  | 'VL_ERR_NOT_BUILT'
  | 'VL_ERR_USAGE';

const STATUS_CODES: Record<number, ErrorCode> = {
  [-1]: 'VL_ERR_INVALID_ARGUMENT',
  [-2]: 'VL_ERR_IO',
  [-3]: 'VL_ERR_FORMAT',
  [-4]: 'VL_ERR_UNSUPPORTED',
  [-5]: 'VL_ERR_OUT_OF_MEMORY',
  [-6]: 'VL_ERR_DEVICE',
  [-7]: 'VL_ERR_NO_DEVICE',
  [-8]: 'VL_ERR_STATE',
  [-9]: 'VL_ERR_INTERNAL',
};

export class VramlabError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'VramlabError';
    this.code = code;
  }

  /** The error of a failed native call: status from vramlab.h, message from the library. */
  static fromStatus(status: number, message: string): VramlabError {
    return new VramlabError(STATUS_CODES[status] ?? 'VL_ERR_INTERNAL', message || `native call failed with status ${status}`);
  }
}
