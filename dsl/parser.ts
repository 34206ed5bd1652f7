// parser.ts: the grammar of .vlab, a chevrotain CstParser (one instance, reused), with error
// messages in the language's words.
//
//   file       = { NEWLINE | ';' | experiment | item } EOF   (an item outside an experiment: a checker error)
//   experiment = 'experiment' NAME body end
//   body       = [NEWLINE] '{' { NEWLINE | ';' | item } '}'
//   item       = (setting | sweep | onBlock) end
//   end        = NEWLINE | ';' | (before '}' or the end of the file: nothing)
//   setting    = NAME '=' value
//   sweep      = 'sweep' NAME 'in' value
//   onBlock    = 'on' NAME body
//   value      = number | STRING | list | call
//   number     = NUMBER [UNIT] [ '..' NUMBER [UNIT] [ 'step' NUMBER [UNIT] ] ]
//   list       = '[' [ value { ',' value } [ ',' ] ] ']'
//   call       = NAME [ '(' [ arg { ',' arg } [ ',' ] ] ')' ]     (a NAME alone is a name value)
//   arg        = [ NAME '=' ] value
//
// NEWLINE is a line break outside (...) and [...]. A UNIT is a NAME right after its number that is
// not followed by '='.
import { type CstNode, CstParser, EMPTY_ALT, type ParserMethod, EOF, type IParserErrorMessageProvider, type IToken, type TokenType } from 'chevrotain';
import type { Position } from './diagnostics.js';
import {
  ALL_TOKENS,
  Comma,
  DotDot,
  Equals,
  Experiment,
  In,
  LBracket,
  LCurly,
  LParen,
  Name,
  Newline,
  NumberLit,
  On,
  RBracket,
  RCurly,
  RParen,
  Semicolon,
  Step,
  StringLit,
  Sweep,
} from './lexer.js';

/** A token as a diagnostic shows it: its text, or "the end of the file". */
export function shown(t: IToken | undefined): string {
  if (!t || t.tokenType === EOF) return 'the end of the file';
  if (t.tokenType === Newline) return 'the end of the line';
  const text = t.image.length > 24 ? `${t.image.slice(0, 24)}...` : t.image;
  return `'${text.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}'`;
}

function label(t: TokenType): string {
  return t.LABEL ?? t.name;
}

function after(previous: IToken | undefined): string {
  return previous && previous.tokenType !== EOF && previous.image ? ` after ${shown(previous)}` : '';
}

const WHAT: Record<string, string> = {
  value: 'a value (a number, a size such as 4 GB, a string, a name, a list or a call)',
  item: "a setting (name = value), 'sweep' or 'on'",
  file: "'experiment NAME { ... }'",
  body: "a setting (name = value), 'sweep', 'on' or '}'",
  end: "a new line or ';'",
  argument: 'an argument (a value, or name = value)',
};

const messages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage({ expected, actual, previous }) {
    // Inside a list or call the likely slip is a missing comma.
    const what = expected === RBracket || expected === RParen ? `',' or ${label(expected)}` : label(expected);
    return `expected ${what}${after(previous)}, found ${shown(actual)}`;
  },
  buildNotAllInputParsedMessage({ firstRedundant }) {
    return `expected 'experiment NAME { ... }', found ${shown(firstRedundant)}`;
  },
  buildNoViableAltMessage({ actual, previous, ruleName }) {
    return `expected ${WHAT[ruleName] ?? ruleName}${after(previous)}, found ${shown(actual[0])}`;
  },
  buildEarlyExitMessage({ actual, previous, ruleName }) {
    return `expected ${WHAT[ruleName] ?? ruleName}${after(previous)}, found ${shown(actual[0])}`;
  },
};

class VlabParser extends CstParser {
  constructor() {
    super(ALL_TOKENS, { recoveryEnabled: true, maxLookahead: 3, errorMessageProvider: messages });
    this.performSelfAnalysis();
  }

  // Recovery resynchronizes at the end of the line (or '}'); patching single tokens in or out
  // guesses wrong too often on a line-oriented language and cascades errors.
  canRecoverWithSingleTokenInsertion(): boolean {
    return false;
  }

  canRecoverWithSingleTokenDeletion(): boolean {
    return false;
  }

  file = this.RULE('file', () => {
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(Newline) },
        { ALT: () => this.CONSUME(Semicolon) },
        { ALT: () => this.SUBRULE(this.experiment) },
        { ALT: () => this.SUBRULE(this.item) },
      ]);
    });
  });

  experiment = this.RULE('experiment', () => {
    this.CONSUME(Experiment);
    this.CONSUME(Name);
    this.SUBRULE(this.body);
    this.SUBRULE(this.end);
  });

  body = this.RULE('body', () => {
    this.OPTION(() => this.CONSUME(Newline));
    this.CONSUME(LCurly);
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME2(Newline) }, { ALT: () => this.CONSUME(Semicolon) }, { ALT: () => this.SUBRULE(this.item) }]);
    });
    this.CONSUME(RCurly);
  });

  item = this.RULE('item', () => {
    this.OR([{ ALT: () => this.SUBRULE(this.setting) }, { ALT: () => this.SUBRULE(this.sweep) }, { ALT: () => this.SUBRULE(this.onBlock) }]);
    this.SUBRULE(this.end);
  });

  /** What ends an item: a line break, ';', or (not consumed) the '}' or end of file after it. */
  end = this.RULE('end', () => {
    this.OR([
      { ALT: () => this.CONSUME(Newline) },
      { ALT: () => this.CONSUME(Semicolon) },
      { GATE: () => this.LA(1).tokenType === RCurly || this.LA(1).tokenType === EOF, ALT: EMPTY_ALT() },
    ]);
  });

  setting = this.RULE('setting', () => {
    this.CONSUME(Name);
    this.CONSUME(Equals);
    this.SUBRULE(this.value);
  });

  sweep = this.RULE('sweep', () => {
    this.CONSUME(Sweep);
    this.CONSUME(Name);
    this.CONSUME(In);
    this.SUBRULE(this.value);
  });

  onBlock = this.RULE('onBlock', () => {
    this.CONSUME(On);
    this.CONSUME(Name);
    this.SUBRULE(this.body);
  });

  value = this.RULE('value', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.number) },
      { ALT: () => this.CONSUME(StringLit) },
      { ALT: () => this.SUBRULE(this.list) },
      { ALT: () => this.SUBRULE(this.call) },
    ]);
  });

  number = this.RULE('number', () => {
    this.SUBRULE(this.quantity, { LABEL: 'from' });
    this.OPTION(() => {
      this.CONSUME(DotDot);
      this.SUBRULE2(this.quantity, { LABEL: 'to' });
      this.OPTION2(() => {
        this.CONSUME(Step);
        this.SUBRULE3(this.quantity, { LABEL: 'step' });
      });
    });
  });

  quantity = this.RULE('quantity', () => {
    this.CONSUME(NumberLit);
    this.OPTION({
      GATE: () => {
        return this.LA(1).tokenType === Name && this.LA(2).tokenType !== Equals;
      },
      DEF: () => this.CONSUME(Name, { LABEL: 'unit' }),
    });
  });

  list = this.RULE('list', () => {
    this.CONSUME(LBracket);
    this.OPTION(() => this.commaSeparated(this.value, RBracket));
    this.CONSUME(RBracket);
  });

  call = this.RULE('call', () => {
    this.CONSUME(Name);
    this.OPTION(() => {
      this.CONSUME(LParen);
      this.OPTION2(() => this.commaSeparated(this.argument, RParen));
      this.CONSUME(RParen);
    });
  });

  argument = this.RULE('argument', () => {
    this.OPTION({
      GATE: () => this.LA(2).tokenType === Equals,
      DEF: () => {
        this.CONSUME(Name, { LABEL: 'key' });
        this.CONSUME(Equals);
      },
    });
    this.SUBRULE(this.value);
  });

  /**
   * `item { ',' item } [',']` before `closer` (a list's or a call's inside; a trailing comma is
   * allowed): not a rule of its own, so its DSL calls carry indices of their own within the rule.
   */
  private commaSeparated(item: ParserMethod<[], CstNode>, closer: TokenType): void {
    this.subrule(1, item);
    this.many(1, {
      GATE: () => this.LA(2).tokenType !== closer,
      DEF: () => {
        this.consume(1, Comma);
        this.subrule(2, item);
      },
    });
    this.option(9, () => this.consume(2, Comma));
  }
}

/** The one parser instance (chevrotain parsers are built once and reused). */
export const parser = new VlabParser();

export function tokenPosition(t: IToken): Position {
  return { line: t.startLine ?? 1, column: t.startColumn ?? 1, offset: t.startOffset, length: t.image.length };
}

