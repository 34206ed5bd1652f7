// diagnostics.ts: what the parser and checker report, as data, and its one text form:
//
//   experiments/streaming.vlab:4:12: error: unknown unit "GX" for budget
//     hint: write a size with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB, e.g. 12 GB
//
// Lines and columns count from 1; a column counts UTF-16 code units, as editors do for ASCII.
import { VramlabError } from '../runtime/errors.js';

/** Every class of diagnostic the language reports. */
export type DiagnosticCode =
  | 'too-large' // the file is over the size limit
  | 'not-text' // the file has a NUL byte or bytes that are not UTF-8 (a binary file)
  | 'unexpected-character' // the lexer found a character no token starts with
  | 'unterminated-string'
  | 'unterminated-comment'
  | 'syntax' // the parser expected something else
  | 'too-deep' // brackets nested past the limit
  | 'unknown-setting'
  | 'duplicate' // a setting, sweep, experiment, list entry or argument given twice
  | 'missing' // a required setting is not there
  | 'type' // a value of the wrong kind: a list where a number goes, a name where a string goes
  | 'unit' // a missing, unknown or wrong-dimension unit
  | 'range' // a number outside what the setting allows
  | 'unknown-name' // a name that is not one of the setting's choices
  | 'reference' // a layer, token id or file that the model or file system does not have
  | 'unsupported'; // a combination the runtime does not support

export interface Position {
  line: number;
  column: number;
  offset: number;
  length: number;
  /** Where the text is when it is not the file's: a command-line flag (`--set budget=24GB`). */
  source?: string;
}

export interface Diagnostic extends Position {
  file: string;
  severity: 'error';
  code: DiagnosticCode;
  message: string;
  hint?: string;
}

/**
 * `FILE:LINE:COL: error: message`, and `  hint: ...` on the next line when there is one; a diagnostic of
 * a command-line flag names the flag instead (`--set budget=24: error: ...`).
 */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.file.startsWith('--') ? d.file : `${d.file}:${d.line}:${d.column}`;
  return `${where}: ${d.severity}: ${d.message}` + (d.hint ? `\n  hint: ${d.hint}` : '');
}

/** Most diagnostics one file reports; past it, one more line says how many were left out. */
export const MAX_DIAGNOSTICS = 20;

export function formatDiagnostics(ds: readonly Diagnostic[]): string {
  const shown = ds.slice(0, MAX_DIAGNOSTICS).map(formatDiagnostic);
  if (ds.length > MAX_DIAGNOSTICS) shown.push(`${ds[0]?.file}: and ${ds.length - MAX_DIAGNOSTICS} more`);
  return shown.join('\n');
}

/** The one diagnostic of a file that is not text, at its first bad byte (see files.ts firstNonText). */
export function notTextDiagnostic(file: string, at: { offset: number; line: number; column: number; what: string }): Diagnostic {
  return { file, line: at.line, column: at.column, offset: at.offset, length: 1, severity: 'error', code: 'not-text', message: `not a text file: ${at.what}`, hint: '.vlab files are UTF-8 text: is this the right file?' };
}

/** Collects diagnostics for one file, in source order, without repeats. */
export class DiagnosticSink {
  readonly #list: Diagnostic[] = [];
  readonly #seen = new Set<string>();

  constructor(readonly file: string) {}

  error(at: Position, code: DiagnosticCode, message: string, hint?: string): void {
    const key = `${at.source ?? ''}:${at.offset}:${code}:${message}`;
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    const d: Diagnostic = { file: at.source ?? this.file, line: at.line, column: at.column, offset: at.offset, length: at.length, severity: 'error', code, message };
    if (hint) d.hint = hint;
    this.#list.push(d);
  }

  get count(): number {
    return this.#list.length;
  }

  /** The diagnostics sorted by position (stable for equal positions). */
  list(): Diagnostic[] {
    return [...this.#list].sort((a, b) => a.offset - b.offset);
  }
}

/** A .vlab file that did not check: its diagnostics, formatted as the message. */
export class DiagnosticsError extends VramlabError {
  readonly diagnostics: readonly Diagnostic[];

  constructor(diagnostics: readonly Diagnostic[]) {
    super('VL_ERR_INVALID_ARGUMENT', formatDiagnostics(diagnostics));
    this.name = 'DiagnosticsError';
    this.diagnostics = diagnostics;
  }
}
