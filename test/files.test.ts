// Every file vramlab reads or writes goes through its readers: runtime/files.ts (regular files only,
// opened without blocking, size-checked before a byte is read; writes only to regular files) and, in
// the native library, native/src/files.cpp (open_regular_file). This test lists every other place in
// the sources that opens a file (node:fs's reading and writing functions, fopen, std::ifstream, open()
// and their kin) and fails on any that is not one of the readers, unless ALLOWED names it with the
// reason it is not a user's file.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');

/** The readers: the only files that may open files. */
const READERS = ['runtime/files.ts', 'native/src/files.cpp'];

/** Calls outside the readers that are allowed, each with why: none reads or writes a user's file. */
const ALLOWED: { file: string; call: string; why: string }[] = [
  { file: 'scripts/make-hostile-corpus.mjs', call: 'readFileSync', why: "a developer tool: writes test/fixtures/hostile from the project's own fixture" },
  { file: 'scripts/make-hostile-corpus.mjs', call: 'writeFileSync', why: 'the same tool, writing the corpus folder it made' },
  { file: 'scripts/make-hostile-corpus.mjs', call: 'copyFileSync', why: 'the same tool, copying a file of the corpus it wrote' },
  { file: 'bench/device/bundle.mjs', call: 'readFileSync', why: "a developer tool: reads the project's own dist/ and node_modules' package.json files to build the GPU bundle" },
  { file: 'bench/device/bundle.mjs', call: 'writeFileSync', why: 'the same tool, writing the bundle folder (.device/) it makes' },
  { file: 'bench/device/bundle.mjs', call: 'cpSync', why: "the same tool, copying the project's own dist/ and packages into the bundle" },
  { file: 'scripts/run-notebooks.mjs', call: 'readFileSync', why: "a developer tool: reads the project's own notebooks/*.ipynb" },
  { file: 'bench/device/correctness.py', call: 'open(', why: "Python run on the GPU machine by bench/device/run.sh: reads the project's fixtures, writes run.sh's output path" },
  { file: 'bench/device/hf_accelerate.py', call: 'open(', why: "Python run by bench/device/run.sh on the GPU machine: writes run.sh's output path" },
  { file: 'bench/device/hf_decode.py', call: 'open(', why: "Python run by bench/device/run.sh on the GPU machine: writes run.sh's output path" },
];

/** Where the project's sources are: the TypeScript layers, the native library (not its tests), the scripts. */
const SOURCE_DIRS = ['runtime', 'lab', 'dsl', 'cli', 'bench', 'native/src', 'native/cpu', 'native/cuda', 'scripts'];
const EXTENSIONS = /\.(ts|mjs|js|cpp|cc|h|hpp|cu|cuh|py)$/;

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((f) => {
    const p = join(dir, f);
    return statSync(join(ROOT, p)).isDirectory() ? sourceFiles(p) : EXTENSIONS.test(f) ? [p] : [];
  });
}

/** node:fs functions that open a file by its name, or read or write through a descriptor. */
const FS_OPENERS = ['readFileSync', 'readFile', 'createReadStream', 'openSync', 'open', 'writeFileSync', 'writeFile', 'appendFileSync', 'appendFile', 'createWriteStream', 'copyFileSync', 'copyFile', 'cpSync', 'cp', 'readSync', 'writeSync'];

interface FileCall {
  line: number;
  call: string;
}

/** Where a source's text opens files, by the language of its name (TypeScript and JavaScript: what it takes from node:fs). */
function fileCalls(name: string, text: string): FileCall[] {
  const out: FileCall[] = [];
  const lineAt = (index = 0) => text.slice(0, index).split('\n').length;
  if (/\.(ts|mjs|js)$/.test(name)) {
    const fsModule = String.raw`['"](?:node:)?fs(?:/promises)?['"]`;
    for (const m of text.matchAll(new RegExp(String.raw`import\s+([^;]*?)\s+from\s+${fsModule}`, 'g'))) {
      const clause = m[1] ?? '';
      if (/\*\s+as\s+\w+|^\s*\w+\s*(,|$)/.test(clause)) out.push({ line: lineAt(m.index), call: 'all of node:fs' });
      for (const n of /\{([^}]*)\}/.exec(clause)?.[1]?.split(',') ?? []) {
        const imported = n.trim().replace(/^type\s+/, '').split(/\s+as\s+/)[0] ?? '';
        if (FS_OPENERS.includes(imported)) out.push({ line: lineAt(m.index), call: imported });
      }
    }
    for (const m of text.matchAll(new RegExp(String.raw`(?:require|import)\s*\(\s*${fsModule}\s*\)`, 'g'))) out.push({ line: lineAt(m.index), call: 'all of node:fs' });
    return out;
  }
  text.split('\n').forEach((line, i) => {
    const l = line.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""'); // not inside a string
    if (/\.py$/.test(name)) {
      if (/(?<![\w.])open\s*\(|\bio\.open\b|\.(read|write)_(text|bytes)\s*\(/.test(l.replace(/#.*$/, ''))) out.push({ line: i + 1, call: 'open(' });
      return;
    }
    const m = /\b(fopen|freopen|ifstream|ofstream|fstream|filebuf)\b|(?<![\w.>])(?:::)?(open|openat|creat)\s*\(/.exec(l.replace(/\/\/.*$/, ''));
    if (m) out.push({ line: i + 1, call: m[1] ?? `${m[2] ?? ''}(` });
  });
  return out;
}

const found = SOURCE_DIRS.flatMap(sourceFiles)
  .concat(['index.ts'])
  .flatMap((file) => fileCalls(file, readFileSync(join(ROOT, file), 'utf8')).map((c) => ({ file: relative('.', file), ...c })));

describe("the project's own file reads and writes", () => {
  it('finds the readers themselves opening files (the search works)', () => {
    expect(found.filter((c) => c.file === 'runtime/files.ts').map((c) => c.call).sort()).toEqual(['createReadStream', 'openSync', 'readSync', 'writeSync']);
    expect(found.filter((c) => c.file === 'native/src/files.cpp').map((c) => c.call)).toContain('open(');
  });

  it('finds every form of opening a file', () => {
    const calls = (name: string, text: string) => fileCalls(name, text).map((c) => `${c.line}:${c.call}`);
    expect(calls('a.ts', "import { readFileSync as r, statSync } from 'node:fs';\nr('x');\n")).toEqual(['1:readFileSync']);
    expect(calls('a.ts', "import { statSync, type Stats } from 'node:fs';\n")).toEqual([]);
    expect(calls('a.ts', "import * as fs from 'fs';\nfs.createWriteStream('x');\n")).toEqual(['1:all of node:fs']);
    expect(calls('a.ts', "import fs from 'node:fs';\n")).toEqual(['1:all of node:fs']);
    expect(calls('a.ts', "import {\n  mkdirSync,\n  open,\n} from 'node:fs/promises';\nRuntime.open({});\n")).toEqual(['1:open']);
    expect(calls('a.mjs', "const fs = require('fs');\nconst { readFile } = await import('node:fs/promises');\n")).toEqual(['1:all of node:fs', '2:all of node:fs']);
    expect(calls('a.cpp', 'throw Error(p + ": cannot open (none)");\nFILE *f = fopen(p, "r");\nstd::ifstream in(p);\nint fd = ::open(p, O_RDONLY);\nvoid *h = dlopen(p, 0);\n')).toEqual(['2:fopen', '3:ifstream', '4:open(']);
    expect(calls('a.py', 'json.load(open(p))\n# open(p)\nPath(p).read_text()\n')).toEqual(['1:open(', '3:open(']);
  });

  it('opens files only in the readers, and where ALLOWED says why', () => {
    const outside = found.filter((c) => !READERS.includes(c.file));
    const unexplained = outside.filter((c) => !ALLOWED.some((a) => a.file === c.file && a.call === c.call)).map((c) => `${c.file}:${c.line}: ${c.call}`);
    expect(unexplained, 'read and write files through runtime/files.ts (native: open_regular_file)').toEqual([]);
    const stale = ALLOWED.filter((a) => !outside.some((c) => c.file === a.file && c.call === a.call)).map((a) => `${a.file}: ${a.call}`);
    expect(stale, 'ALLOWED entries that no longer match a call').toEqual([]);
  });
});
