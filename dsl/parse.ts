// parse.ts: parseVlab() runs the lexer, the parser and the AST builder over .vlab text and returns
// the tree with every error found on the way. It never throws on user input and its time is bounded
// (a size limit, a nesting limit, chevrotain's linear-time recovery).
import { EOF, type IToken, type TokenType } from 'chevrotain';
import type { Item, VlabFile } from './ast.js';
import { buildAst } from './ast-builder.js';
import { type Diagnostic, DiagnosticSink, notTextDiagnostic, type Position } from './diagnostics.js';
import { firstNonText } from './text.js';
import { LBracket, LCurly, lexer, LParen, RBracket, RCurly, RParen, significantTokens, UnterminatedComment } from './lexer.js';
import { parser, tokenPosition } from './parser.js';

/** The largest .vlab file accepted (experiment files are a few KB). */
export const MAX_FILE_BYTES = 1 << 20;
/** The deepest nesting of brackets, braces and parentheses accepted. */
export const MAX_DEPTH = 32;

/** The position just past the end of the text (where "the end of the file" errors point). */
function endPosition(text: string): Position {
  const lines = text.split('\n');
  return { line: lines.length, column: (lines[lines.length - 1] ?? '').length + 1, offset: text.length, length: 0 };
}

const OPENERS = new Set<TokenType>([LCurly, LBracket, LParen]);
const CLOSERS = new Set<TokenType>([RCurly, RBracket, RParen]);

/** The first token nested deeper than MAX_DEPTH, if any. */
function tooDeep(tokens: IToken[]): IToken | undefined {
  let depth = 0;
  for (const t of tokens) {
    if (OPENERS.has(t.tokenType)) {
      if (++depth > MAX_DEPTH) return t;
    } else if (CLOSERS.has(t.tokenType)) depth = Math.max(0, depth - 1);
  }
  return undefined;
}

export interface ParseResult {
  ast: VlabFile;
  diagnostics: Diagnostic[];
}

/** Parses .vlab text; never throws on user input. `file` names the file in diagnostics. */
export function parseVlab(text: string, file: string): ParseResult {
  const sink = new DiagnosticSink(file);
  const empty: VlabFile = { experiments: [], strays: [] };
  if (text.length > MAX_FILE_BYTES) {
    sink.error({ line: 1, column: 1, offset: 0, length: 0 }, 'too-large', `the file is ${text.length} characters long, more than the ${MAX_FILE_BYTES} a .vlab file may have`, 'is this a .vlab file? experiment files are a few KB');
    return { ast: empty, diagnostics: sink.list() };
  }
  // Text with a NUL is a binary file read as text: one diagnostic, not one per stray byte.
  const bad = text.includes('\0') ? firstNonText(Buffer.from(text, 'utf8')) : null;
  if (bad) return { ast: empty, diagnostics: [notTextDiagnostic(file, bad)] };
  const lexed = lexer.tokenize(text);
  // Lines with an error: the parser's errors there would only echo it. Items on the lines of
  // unterminated tokens and syntax errors are dropped (their values are not what was meant).
  const badLines = new Set<number>();
  const dropLines = new Set<number>();
  let cutOffset = Infinity; // where an unterminated comment swallows the rest of the file
  for (const e of lexed.errors) {
    const ch = text.slice(e.offset, e.offset + e.length);
    const first = ch.codePointAt(0) ?? 0;
    const what = first >= 0x20 && first < 0x7f ? `'${ch[0]}'` : `character U+${first.toString(16).toUpperCase().padStart(4, '0')}`;
    const more = e.length > 1 ? ` (and ${e.length - 1} more characters)` : '';
    const hint = first === 0xfffd ? 'is this a text file? .vlab files are UTF-8 text' : undefined;
    sink.error({ line: e.line ?? 1, column: e.column ?? 1, offset: e.offset, length: e.length }, 'unexpected-character', `unexpected ${what}${more}`, hint);
    badLines.add(e.line ?? 1);
  }
  for (const t of lexed.groups['unterminated'] ?? []) {
    if (t.tokenType === UnterminatedComment) {
      sink.error(tokenPosition(t), 'unterminated-comment', 'unterminated comment: /* has no closing */', 'close the comment with */');
      cutOffset = Math.min(cutOffset, t.startOffset);
    } else {
      sink.error(tokenPosition(t), 'unterminated-string', 'unterminated string: " has no closing " on its line', 'close the string with " before the end of the line (write \\" for a quote inside it)');
    }
    badLines.add(t.startLine ?? 1);
    dropLines.add(t.startLine ?? 1);
  }
  const deep = tooDeep(lexed.tokens);
  if (deep) {
    sink.error(tokenPosition(deep), 'too-deep', `brackets nested more than ${MAX_DEPTH} deep`, 'a .vlab value nests a list or call a level or two deep');
    return { ast: empty, diagnostics: sink.list() };
  }
  parser.input = significantTokens(lexed.tokens);
  const cst = parser.file();
  const errorOffsets: number[] = [];
  for (const e of parser.errors) {
    const atEnd = e.token.tokenType === EOF || !Number.isFinite(e.token.startOffset);
    const at = atEnd ? endPosition(text) : tokenPosition(e.token);
    // One syntax error per line, none caused by an error the lexer reported. (A missing '}' at the
    // end of the file spoils nothing before it.)
    if (badLines.has(at.line) || at.offset >= cutOffset) continue;
    if (!atEnd) {
      errorOffsets.push(at.offset);
      badLines.add(at.line);
      dropLines.add(at.line);
    }
    sink.error(at, 'syntax', e.message);
  }
  return { ast: dropBroken(buildAst(cst), dropLines, errorOffsets), diagnostics: sink.list() };
}

/** The tree without the items that start on a line with an error or hold an error's position. */
function dropBroken(ast: VlabFile, lines: Set<number>, errorOffsets: number[]): VlabFile {
  const broken = (p: Position): boolean => lines.has(p.line) || errorOffsets.some((o) => o > p.offset && o < p.offset + p.length);
  const keep = (items: Item[]): Item[] =>
    items.filter((i) => i.kind === 'on' || !broken(i.pos)).map((i) => (i.kind === 'on' ? { ...i, items: keep(i.items) } : i));
  return { experiments: ast.experiments.map((e) => ({ ...e, items: keep(e.items) })), strays: keep(ast.strays) };
}
