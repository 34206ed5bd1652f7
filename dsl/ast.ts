// ast.ts: the typed syntax tree of a .vlab file, as the visitor builds it from the parser's CST.
// Every node keeps its position (the span of its source text) for diagnostics. Parts that the
// parser had to recover from are left out: the parser has reported them already.
import type { Position } from './diagnostics.js';

export interface NumberValue {
  kind: 'number';
  value: number;
  text: string;
  /** A unit written after the number on the same line: `12 GB`, `512 tokens`. */
  unit: { name: string; pos: Position } | null;
  pos: Position;
}

export interface StringValue {
  kind: 'string';
  value: string;
  pos: Position;
}

export interface NameValue {
  kind: 'name';
  name: string;
  pos: Position;
}

export interface ListValue {
  kind: 'list';
  items: Value[];
  pos: Position;
}

/** `from..to` or `from..to step by`: inclusive at both ends. */
export interface RangeValue {
  kind: 'range';
  from: NumberValue;
  to: NumberValue;
  step: NumberValue | null;
  pos: Position;
}

export interface Argument {
  /** Null for a positional argument. */
  name: { text: string; pos: Position } | null;
  value: Value;
  pos: Position;
}

/** `synthetic(llama-7b, layers = 2)`, `random(norm = 1)`. */
export interface CallValue {
  kind: 'call';
  callee: string;
  calleePos: Position;
  args: Argument[];
  pos: Position;
}

export type Value = NumberValue | StringValue | NameValue | ListValue | RangeValue | CallValue;

export interface Setting {
  kind: 'setting';
  name: string;
  namePos: Position;
  value: Value;
  pos: Position;
}

/** `sweep NAME in VALUES`: one run per value (several sweeps: every combination). */
export interface Sweep {
  kind: 'sweep';
  name: string;
  namePos: Position;
  values: Value;
  pos: Position;
}

/** `on cpu { ... }`: settings and sweeps that replace the experiment's when it runs on that device kind. */
export interface OnBlock {
  kind: 'on';
  target: string;
  targetPos: Position;
  items: Item[];
  pos: Position;
}

export type Item = Setting | Sweep | OnBlock;

export interface Experiment {
  name: string;
  namePos: Position;
  items: Item[];
  pos: Position;
}

export interface VlabFile {
  experiments: Experiment[];
  /** Items written outside any experiment (an error the checker reports). */
  strays: Item[];
}

/** What a value is, in words, for diagnostics: "a list", "the name foo", "12 GB". */
export function describe(v: Value): string {
  switch (v.kind) {
    case 'number':
      return v.unit ? `${v.text} ${v.unit.name}` : v.text;
    case 'string':
      return 'a string';
    case 'name':
      return `the name ${v.name}`;
    case 'list':
      return 'a list';
    case 'range':
      return 'a range';
    case 'call':
      return `${v.callee}(...)`;
  }
}
