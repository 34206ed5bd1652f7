// lexer.ts: the tokens of the .vlab language and the one lexer instance that makes them.
//
//   experiment streaming {            # keywords: experiment, sweep, in, on, step
//     budget = 12 GB                  # Name '=' Number Name(unit)
//     model  = synthetic(llama-70b, layers = 20)
//     sweep ring in [2 GB, 4 GB]      # lists, and ranges: 1..40 step 10
//   }
//
// A setting ends at the end of its line or at ';'. Comments run from # or // to the end of the line, or between /* and */. Names may hold inner
// dashes and colons (stream-sync, llama-3-8b, cuda:0). Unterminated strings and comments are tokens
// of their own so the checker can name them; nothing the lexer sees makes it throw.
import { createToken, type IToken, Lexer, type TokenType } from 'chevrotain';

export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\f\v]+/, group: Lexer.SKIPPED });
/** Line breaks end settings; inside brackets and parentheses they are dropped (see significantTokens). */
export const Newline = createToken({ name: 'Newline', label: 'a new line', pattern: /(?:\r\n?|\n)/, line_breaks: true });
export const LineComment = createToken({ name: 'LineComment', pattern: /(?:#|\/\/)[^\n\r]*/, group: Lexer.SKIPPED });
export const BlockComment = createToken({ name: 'BlockComment', pattern: /\/\*[\s\S]*?\*\//, line_breaks: true, group: Lexer.SKIPPED });
/** A comment that never closes: it runs to the end of the file. */
export const UnterminatedComment = createToken({ name: 'UnterminatedComment', pattern: /\/\*[\s\S]*/, line_breaks: true, group: 'unterminated' });
export const StringLit = createToken({ name: 'String', label: 'a string', pattern: /"(?:[^"\\\n\r]|\\[^\n\r])*"/ });
/** A string that does not close on its line. */
export const UnterminatedString = createToken({ name: 'UnterminatedString', pattern: /"(?:[^"\\\n\r]|\\[^\n\r])*\\?/, group: 'unterminated' });

export const Name = createToken({ name: 'Name', label: 'a name', pattern: /[A-Za-z_][A-Za-z0-9_]*(?:[-:][A-Za-z0-9_]+)*/ });
function keyword(word: string): TokenType {
  return createToken({ name: word[0]!.toUpperCase() + word.slice(1), label: `'${word}'`, pattern: new RegExp(word), longer_alt: Name });
}
export const Experiment = keyword('experiment');
export const Sweep = keyword('sweep');
export const In = keyword('in');
export const On = keyword('on');
export const Step = keyword('step');

export const NumberLit = createToken({ name: 'Number', label: 'a number', pattern: /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/ });
export const DotDot = createToken({ name: 'DotDot', label: "'..'", pattern: /\.\./ });
export const Equals = createToken({ name: 'Equals', label: "'='", pattern: /=/ });
export const LCurly = createToken({ name: 'LCurly', label: "'{'", pattern: /{/ });
export const RCurly = createToken({ name: 'RCurly', label: "'}'", pattern: /}/ });
export const LBracket = createToken({ name: 'LBracket', label: "'['", pattern: /\[/ });
export const RBracket = createToken({ name: 'RBracket', label: "']'", pattern: /]/ });
export const LParen = createToken({ name: 'LParen', label: "'('", pattern: /\(/ });
export const RParen = createToken({ name: 'RParen', label: "')'", pattern: /\)/ });
export const Comma = createToken({ name: 'Comma', label: "','", pattern: /,/ });
export const Semicolon = createToken({ name: 'Semicolon', label: "';'", pattern: /;/ });

// Order matters: comments before anything starting with / or #, keywords before Name.
export const ALL_TOKENS: TokenType[] = [
  WhiteSpace,
  Newline,
  LineComment,
  BlockComment,
  UnterminatedComment,
  StringLit,
  UnterminatedString,
  Experiment,
  Sweep,
  In,
  On,
  Step,
  Name,
  NumberLit,
  DotDot,
  Equals,
  LCurly,
  RCurly,
  LBracket,
  RBracket,
  LParen,
  RParen,
  Comma,
  Semicolon,
];

export const lexer = new Lexer(ALL_TOKENS, { positionTracking: 'full', ensureOptimizations: false });

/**
 * The tokens the parser sees: line breaks inside (...) and [...] dropped (a list may span lines),
 * runs of line breaks collapsed to one.
 */
export function significantTokens(tokens: IToken[]): IToken[] {
  const out: IToken[] = [];
  let depth = 0;
  for (const t of tokens) {
    if (t.tokenType === LBracket || t.tokenType === LParen) depth++;
    else if ((t.tokenType === RBracket || t.tokenType === RParen) && depth > 0) depth--;
    else if (t.tokenType === LCurly || t.tokenType === RCurly) depth = 0;
    if (t.tokenType === Newline && (depth > 0 || out[out.length - 1]?.tokenType === Newline)) continue;
    out.push(t);
  }
  return out;
}
