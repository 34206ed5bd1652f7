// The layers (docs/architecture.md), checked on the sources: data flows down, no layer imports one
// above it, no import circles, koffi bound in one file, the .vlab language's checker and compiler
// free of the native library, files in runtime/ and lab/ kept short, every measure module registered.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { allMeasures } from '../lab/registry.js';

const ROOT = join(import.meta.dirname, '..');
const FOLDERS = ['runtime', 'lab', 'dsl', 'cli', 'bench'];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : f.endsWith('.ts') ? [relative(ROOT, p)] : [];
  });
}

const files = ['index.ts', ...FOLDERS.flatMap((f) => sources(join(ROOT, f)))];

interface Import {
  to: string; // a source file, or a package name
  typeOnly: boolean;
}

/** The imports and re-exports of a file; relative ones resolved to source files. */
function importsOf(file: string): Import[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const out: Import[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(type\s+)?([^;]*?)\s*from\s+'([^']+)';/gms)) {
    const [, typeKeyword, names = '', spec = ''] = m;
    const specifiers = names.replace(/[{}]/g, '').split(',').map((x) => x.trim()).filter(Boolean);
    const typeOnly = Boolean(typeKeyword) || (specifiers.length > 0 && specifiers.every((x) => x.startsWith('type ')));
    const to = spec.startsWith('.') ? relative(ROOT, resolve(dirname(join(ROOT, file)), spec)).replace(/\.js$/, '.ts') : spec;
    out.push({ to, typeOnly });
  }
  return out;
}

const graph = new Map(files.map((f) => [f, importsOf(f)]));
const folder = (f: string) => f.split('/')[0] as string;

/** Files reachable from `start` through imports (value imports only, when `values`). */
function reachable(start: string, values: boolean): Set<string> {
  const seen = new Set<string>();
  const walk = (f: string) => {
    for (const i of graph.get(f) ?? []) {
      if ((values && i.typeOnly) || !graph.has(i.to) || seen.has(i.to)) continue;
      seen.add(i.to);
      walk(i.to);
    }
  };
  walk(start);
  return seen;
}

describe('the layers', () => {
  it('resolves every relative import to a source file', () => {
    for (const [f, is] of graph) for (const i of is) if (i.to.includes('/') && !i.to.startsWith('node:') && !i.to.startsWith('@')) expect(graph.has(i.to) || i.to.startsWith('plotly'), `${f} imports ${i.to}`).toBe(true);
  });

  it.each([
    ['runtime', ['lab', 'dsl', 'cli', 'bench']],
    ['lab', ['dsl', 'cli', 'bench']],
    ['dsl', ['cli', 'bench']],
  ])('%s/ imports nothing from the layers above it', (layer, above) => {
    const wrong = [...graph].flatMap(([f, is]) => (folder(f) === layer ? is.filter((i) => above.includes(folder(i.to))).map((i) => `${f} -> ${i.to}`) : []));
    expect(wrong).toEqual([]);
  });

  it('has no import circles (type imports included)', () => {
    const circles = files.filter((f) => reachable(f, false).has(f));
    expect(circles).toEqual([]);
  });

  it('binds koffi in runtime/native.ts alone', () => {
    expect([...graph].filter(([, is]) => is.some((i) => i.to === 'koffi')).map(([f]) => f)).toEqual(['runtime/native.ts']);
  });

  it('checks and compiles .vlab files, and declares measures, without loading the native library', () => {
    for (const f of ['dsl/checker.ts', 'dsl/compiler.ts', 'lab/registry.ts', 'lab/build.ts', 'runtime/types.ts']) expect([...reachable(f, true)].filter((x) => x === 'runtime/native.ts'), f).toEqual([]);
  });

  it('keeps every file of runtime/ and lab/ at 400 lines or fewer', () => {
    const long = files.filter((f) => ['runtime', 'lab'].includes(folder(f))).map((f) => [f, readFileSync(join(ROOT, f), 'utf8').split('\n').length - 1] as const).filter(([, n]) => n > 400);
    expect(long).toEqual([]);
  });

  it('registers every measure a lab/measures/ module exports', async () => {
    const registered = new Set(allMeasures());
    for (const f of files.filter((x) => x.startsWith('lab/measures/'))) {
      const mod = (await import(join(ROOT, f))) as Record<string, unknown>;
      for (const [name, v] of Object.entries(mod))
        if (typeof v === 'object' && v !== null && 'compile' in v && 'run' in v) expect(registered.has(v as never), `${f}: ${name}`).toBe(true);
    }
  });
});
