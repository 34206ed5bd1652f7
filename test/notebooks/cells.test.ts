// Every notebook's code type-checks against the package as the tslab kernel checks it (its compiler
// options: ES modules, node10 resolution of "vramlab" to this checkout), without Jupyter: the cells of
// a notebook, in order, as one module. A renamed export or a changed result field fails here.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const NOTEBOOKS = join(ROOT, 'notebooks');
const OUT = join(ROOT, 'test', 'out', 'notebook-cells');

interface Notebook {
  cells: { cell_type: string; source: string[] | string }[];
}

const names = readdirSync(NOTEBOOKS).filter((f) => f.endsWith('.ipynb')).sort();

/** The notebook's code cells as one TypeScript module under test/out/ (inside the checkout, so "vramlab" resolves). */
function cellsFile(name: string): string {
  const nb = JSON.parse(readFileSync(join(NOTEBOOKS, name), 'utf8')) as Notebook;
  const code = nb.cells.filter((c) => c.cell_type === 'code').map((c) => (Array.isArray(c.source) ? c.source.join('') : c.source));
  const path = join(OUT, name.replace('.ipynb', '.ts'));
  writeFileSync(path, code.join('\n\n') + '\nexport {};\n');
  return path;
}

describe('notebooks/', () => {
  it('has notebooks', () => {
    expect(names.length).toBeGreaterThanOrEqual(5);
  });

  it('every notebook type-checks with tslab\'s compiler options', () => {
    mkdirSync(OUT, { recursive: true });
    const files = names.map(cellsFile);
    const program = ts.createProgram(files, {
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Node10,
      esModuleInterop: true,
      target: ts.ScriptTarget.ES2022,
      lib: ['lib.es2022.d.ts'],
      types: ['node'],
      typeRoots: [join(ROOT, 'node_modules', '@types')],
      skipLibCheck: true,
      noEmit: true,
    });
    const errors = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file && d.start !== undefined ? `${d.file.fileName.replace(`${OUT}/`, '')}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}: ` : '';
      return where + ts.flattenDiagnosticMessageText(d.messageText, '\n');
    });
    expect(errors).toEqual([]);
  });
});
