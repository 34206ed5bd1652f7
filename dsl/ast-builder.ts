// ast-builder.ts: the CST visitor that turns the parser's concrete syntax tree into the typed AST
// (ast.ts). After error recovery a CST node may lack children; such nodes are dropped here (the
// parser has reported why), so the checker only sees complete nodes.
import type { CstNode, IToken } from 'chevrotain';
import type { Argument, CallValue, Experiment, Item, ListValue, NumberValue, OnBlock, RangeValue, Setting, Sweep, Value, VlabFile } from './ast.js';
import type { Position } from './diagnostics.js';
import { parser, tokenPosition } from './parser.js';

type Children = Record<string, (CstNode | IToken)[] | undefined>;

function token(c: Children, key: string, i = 0): IToken | undefined {
  const t = c[key]?.[i] as IToken | undefined;
  return t && !t.isInsertedInRecovery && Number.isFinite(t.startOffset) ? t : undefined;
}

function nodes(c: Children, key: string): CstNode[] {
  return (c[key] ?? []) as CstNode[];
}

/** The span from the first to the last token under a node's children (null when there is no real token). */
function span(children: Children): Position | null {
  let first: IToken | undefined;
  let last: IToken | undefined;
  const walk = (n: CstNode): void => {
    for (const list of Object.values(n.children)) {
      for (const el of list) {
        if ('tokenType' in el) {
          if (el.isInsertedInRecovery || !Number.isFinite(el.startOffset)) continue;
          if (!first || el.startOffset < first.startOffset) first = el;
          if (!last || el.startOffset > last.startOffset) last = el;
        } else walk(el);
      }
    }
  };
  walk({ name: '', children: children as CstNode['children'] });
  if (!first || !last) return null;
  return { ...tokenPosition(first), length: last.startOffset + last.image.length - first.startOffset };
}

const BaseVisitor = parser.getBaseCstVisitorConstructorWithDefaults();

class AstBuilder extends BaseVisitor {
  constructor() {
    super();
    this.validateVisitor();
  }

  file(c: Children): VlabFile {
    const out: VlabFile = { experiments: [], strays: [] };
    for (const n of nodes(c, 'experiment')) {
      const e = this.visit(n) as Experiment | null;
      if (e) out.experiments.push(e);
    }
    out.strays = this.items(c);
    return out;
  }

  experiment(c: Children): Experiment | null {
    const name = token(c, 'Name');
    if (!name) return null;
    const body = nodes(c, 'body')[0];
    return { name: name.image, namePos: tokenPosition(name), items: body ? this.items(body.children as Children) : [], pos: span(c) ?? tokenPosition(name) };
  }

  items(c: Children): Item[] {
    return nodes(c, 'item')
      .map((n) => this.visit(n) as Item | null)
      .filter((i): i is Item => i !== null);
  }

  item(c: Children): Item | null {
    const inner = nodes(c, 'setting')[0] ?? nodes(c, 'sweep')[0] ?? nodes(c, 'onBlock')[0];
    return inner ? (this.visit(inner) as Item | null) : null;
  }

  setting(c: Children): Setting | null {
    const name = token(c, 'Name');
    const valueNode = nodes(c, 'value')[0];
    const value = valueNode ? (this.visit(valueNode) as Value | null) : null;
    if (!name || !value) return null;
    const namePos = tokenPosition(name);
    return { kind: 'setting', name: name.image, namePos, value, pos: { ...namePos, length: value.pos.offset + value.pos.length - namePos.offset } };
  }

  sweep(c: Children): Sweep | null {
    const kw = token(c, 'Sweep');
    const name = token(c, 'Name');
    const valueNode = nodes(c, 'value')[0];
    const values = valueNode ? (this.visit(valueNode) as Value | null) : null;
    if (!kw || !name || !values) return null;
    const pos = tokenPosition(kw);
    return { kind: 'sweep', name: name.image, namePos: tokenPosition(name), values, pos: { ...pos, length: values.pos.offset + values.pos.length - pos.offset } };
  }

  onBlock(c: Children): OnBlock | null {
    const target = token(c, 'Name');
    if (!target) return null;
    const body = nodes(c, 'body')[0];
    return { kind: 'on', target: target.image, targetPos: tokenPosition(target), items: body ? this.items(body.children as Children) : [], pos: span(c) ?? tokenPosition(target) };
  }

  value(c: Children): Value | null {
    const str = token(c, 'String');
    if (str) return { kind: 'string', value: unquote(str.image), pos: tokenPosition(str) };
    const inner = nodes(c, 'number')[0] ?? nodes(c, 'list')[0] ?? nodes(c, 'call')[0];
    return inner ? (this.visit(inner) as Value | null) : null;
  }

  number(c: Children): NumberValue | RangeValue | null {
    const [fromNode, toNode, stepNode] = [nodes(c, 'from')[0], nodes(c, 'to')[0], nodes(c, 'step')[0]];
    const from = fromNode ? (this.visit(fromNode) as NumberValue | null) : null;
    if (!from) return null;
    if (!token(c, 'DotDot')) return from;
    const to = toNode ? (this.visit(toNode) as NumberValue | null) : null;
    if (!to) return null;
    const step = stepNode ? (this.visit(stepNode) as NumberValue | null) : null;
    if (token(c, 'Step') && !step) return null;
    return { kind: 'range', from, to, step, pos: span(c) ?? from.pos };
  }

  quantity(c: Children): NumberValue | null {
    const n = token(c, 'Number');
    if (!n) return null;
    const unit = token(c, 'unit');
    return { kind: 'number', value: Number(n.image), text: n.image, unit: unit ? { name: unit.image, pos: tokenPosition(unit) } : null, pos: span(c) ?? tokenPosition(n) };
  }

  list(c: Children): ListValue | null {
    const pos = span(c);
    if (!pos) return null;
    const items = nodes(c, 'value')
      .map((n) => this.visit(n) as Value | null)
      .filter((v): v is Value => v !== null);
    return { kind: 'list', items, pos };
  }

  call(c: Children): CallValue | { kind: 'name'; name: string; pos: Position } | null {
    const name = token(c, 'Name');
    if (!name) return null;
    if (!token(c, 'LParen')) return { kind: 'name', name: name.image, pos: tokenPosition(name) };
    const args = nodes(c, 'argument')
      .map((n) => this.visit(n) as Argument | null)
      .filter((a): a is Argument => a !== null);
    return { kind: 'call', callee: name.image, calleePos: tokenPosition(name), args, pos: span(c) ?? tokenPosition(name) };
  }

  argument(c: Children): Argument | null {
    const valueNode = nodes(c, 'value')[0];
    const value = valueNode ? (this.visit(valueNode) as Value | null) : null;
    if (!value) return null;
    const key = token(c, 'key');
    return { name: key ? { text: key.image, pos: tokenPosition(key) } : null, value, pos: span(c) ?? value.pos };
  }

  body(): null {
    return null; // read by experiment() and onBlock()
  }

  end(): null {
    return null;
  }
}

const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\' };

/** A string literal's text without its quotes, escapes resolved (\n \t \r \" \\; others keep the character). */
function unquote(image: string): string {
  return image.slice(1, -1).replace(/\\(.)/g, (_, ch: string) => ESCAPES[ch] ?? ch);
}

const builder = new AstBuilder();

export function buildAst(cst: CstNode): VlabFile {
  return builder.visit(cst) as VlabFile;
}
