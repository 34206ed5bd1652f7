// bundle.mjs: the bundle a run on the GPU machine needs (.device/, carried there beside the working
// tree; bench/device/run.sh uses it): a compressed Node.js, the compiled TypeScript (dist/), simdjson's
// two source files that native/ compiles (compressed; from the @nozbe/simdjson package), and the
// node_modules that dist/ loads, computed, never listed by hand: the packages of package.json's
// "dependencies" that the command line and the benchmarks import (dist/cli/vramlab.js and
// dist/bench/*.js, following every static import and every import() of a literal through dist/), with
// their own dependencies as node_modules resolves them (and the optional ones installed here, e.g.
// koffi's binary for this platform). A package that dist/ only require()s at call time (createRequire)
// is not imported at load and not carried: it is named, with the files that require it (danfojs-node,
// with its TensorFlow.js some 270 MB, for DataFrames: notebooks and `vramlab report`). What travels,
// the working tree and the bundle, must stay under the device tool's 64 MiB.
//
//   node bench/device/bundle.mjs DEST [--xz-level N]
//       writes DEST/{node.xz, dist, node_modules, simdjson}, keeps the rest of DEST (node.xz is made
//       again only when the node binary is newer); prints what it carried and left out, and the bytes
//       that travel, as JSON; exit status 1 when they are over the limit. N: xz's level for node (6).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { parse } from 'acorn';

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..', '..');

/** What the device tool carries at most: the working tree and the carried paths together. */
export const LIMIT_BYTES = 64 * 2 ** 20;

/** The package a bare specifier names: 'chevrotain', '@huggingface/jinja' (of '@huggingface/jinja/x'). */
function packageOf(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

const isBuiltin = (s) => s.startsWith('node:') || builtinModules.includes(s.split('/')[0]);

/** Every node of an ESTree, depth first. */
function* nodes(node) {
  if (!node || typeof node.type !== 'string') return;
  yield node;
  for (const v of Object.values(node)) {
    if (Array.isArray(v)) for (const x of v) yield* nodes(x);
    else if (v && typeof v === 'object') yield* nodes(v);
  }
}

const literal = (n) => (n?.type === 'Literal' && typeof n.value === 'string' ? n.value : null);
const isCreateRequire = (n) => n?.type === 'CallExpression' && n.callee.type === 'Identifier' && n.callee.name === 'createRequire';

/** What a module imports (static imports, re-exports, import() of a literal) and require()s at call time. */
function specifiers(file) {
  const ast = parse(readFileSync(file, 'utf8'), { ecmaVersion: 'latest', sourceType: 'module' });
  const imports = [], required = [];
  for (const n of nodes(ast)) {
    if (['ImportDeclaration', 'ExportNamedDeclaration', 'ExportAllDeclaration', 'ImportExpression'].includes(n.type)) {
      const s = literal(n.source);
      if (s !== null) imports.push(s);
    } else if (n.type === 'CallExpression' && n.arguments.length === 1) {
      // createRequire(url)('x'), createRequire(url).resolve('x'), require('x'), require.resolve('x')
      const c = n.callee;
      const target = c.type === 'MemberExpression' && c.property.name === 'resolve' ? c.object : c;
      if (isCreateRequire(target) || (target.type === 'Identifier' && target.name === 'require')) {
        const s = literal(n.arguments[0]);
        if (s !== null) required.push(s);
      }
    }
  }
  return { imports, required };
}

/** The compiled files the GPU machine runs: the command line and the benchmarks. */
export function entryPoints(dist = join(ROOT, 'dist')) {
  const bench = join(dist, 'bench');
  return [join(dist, 'cli', 'vramlab.js'), ...readdirSync(bench).filter((f) => f.endsWith('.js')).map((f) => join(bench, f))];
}

/** The import graph from the entry points through dist/: the packages it imports, and those it only require()s (with where). */
export function importGraph(entries) {
  const seen = new Set(), imported = new Set(), required = new Map();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop();
    if (seen.has(file)) continue;
    seen.add(file);
    const { imports, required: req } = specifiers(file);
    for (const s of imports) {
      if (s.startsWith('.')) queue.push(resolve(dirname(file), s));
      else if (!isBuiltin(s)) imported.add(packageOf(s));
    }
    for (const s of req) {
      if (s.startsWith('.') || isBuiltin(s)) continue;
      const p = packageOf(s);
      required.set(p, [...new Set([...(required.get(p) ?? []), relative(ROOT, file)])]);
    }
  }
  return { files: seen.size, imported, required };
}

/** A package's folder as Node resolves it from `from` (a package folder): nested node_modules first. */
function packageDir(name, from) {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) return null;
  }
}

/**
 * The packages to carry: those of package.json's "dependencies" that the graph imports, and their
 * dependencies (and installed optional ones), recursively; folders relative to the root.
 */
export function closure(imported, root = ROOT) {
  const declared = Object.keys(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).dependencies ?? {});
  const undeclared = [...imported].filter((p) => !declared.includes(p));
  if (undeclared.length > 0) throw new Error(`dist/ imports ${undeclared.join(', ')}, not in package.json's "dependencies"`);
  const dirs = new Set();
  const visit = (name, from, optional) => {
    const dir = packageDir(name, from);
    if (dir === null) {
      if (optional) return;
      throw new Error(`${name} (needed by ${relative(root, from) || 'package.json'}) is not installed: run npm install`);
    }
    if (dirs.has(dir)) return;
    dirs.add(dir);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    for (const d of Object.keys(pkg.dependencies ?? {})) visit(d, dir, false);
    for (const d of Object.keys(pkg.optionalDependencies ?? {})) visit(d, dir, true);
  };
  for (const p of declared.filter((d) => imported.has(d))) visit(p, root, false);
  return [...dirs].map((d) => relative(root, d)).sort();
}

/** Bytes of a file, or of a folder's files. */
export function bytes(path) {
  const s = statSync(path);
  return s.isDirectory() ? readdirSync(path).reduce((a, f) => a + bytes(join(path, f)), 0) : s.size;
}

/** Bytes of the working tree that travels with a run: tracked files and untracked ones git does not ignore. */
export function workingTreeBytes(root = ROOT) {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' }).split('\0').filter(Boolean);
  return files.reduce((a, f) => (existsSync(join(root, f)) ? a + statSync(join(root, f)).size : a), 0);
}

function xz(src, dest, level) {
  writeFileSync(`${dest}.tmp`, execFileSync('xz', ['-T2', `-${level}`, '-c', src], { maxBuffer: 2 ** 30 }));
  renameSync(`${dest}.tmp`, dest);
}

/** Writes the bundle into dest; what it carried and left out, and the bytes that travel. */
export function bundle(dest, { xzLevel = 6 } = {}) {
  mkdirSync(dest, { recursive: true });
  const node = realpathSync(process.execPath);
  const nodeXz = join(dest, 'node.xz');
  if (!existsSync(nodeXz) || statSync(node).mtimeMs > statSync(nodeXz).mtimeMs) xz(node, nodeXz, xzLevel);
  for (const part of ['node_modules', 'dist', 'simdjson']) rmSync(join(dest, part), { recursive: true, force: true });
  const simdjson = join(ROOT, 'node_modules', '@nozbe', 'simdjson');
  mkdirSync(join(dest, 'simdjson'));
  for (const f of ['simdjson.h', 'simdjson.cpp']) xz(join(simdjson, 'src', f), join(dest, 'simdjson', `${f}.xz`), 6);
  cpSync(join(simdjson, 'LICENSE'), join(dest, 'simdjson', 'LICENSE'));
  cpSync(join(ROOT, 'dist'), join(dest, 'dist'), { recursive: true });
  const graph = importGraph(entryPoints());
  const packages = closure(graph.imported);
  for (const p of packages) cpSync(join(ROOT, p), join(dest, p), { recursive: true, dereference: true });
  const travelling = workingTreeBytes() + bytes(dest);
  return {
    files: graph.files,
    imported: [...graph.imported].sort(),
    packages,
    packageBytes: packages.reduce((a, p) => a + bytes(join(dest, p)), 0),
    notCarried: Object.fromEntries([...graph.required].filter(([p]) => !graph.imported.has(p)).sort()),
    travellingBytes: travelling,
    limitBytes: LIMIT_BYTES,
  };
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  const [dest, flag, level] = process.argv.slice(2);
  if (!dest || (flag !== undefined && (flag !== '--xz-level' || !/^\d$/.test(level ?? '')))) {
    process.stderr.write('usage: node bench/device/bundle.mjs DEST [--xz-level N]\n');
    process.exit(1);
  }
  const out = bundle(resolve(dest), { xzLevel: level === undefined ? 6 : Number(level) });
  process.stdout.write(JSON.stringify(out, null, 1) + '\n');
  if (out.travellingBytes > LIMIT_BYTES) {
    process.stderr.write(`bundle.mjs: the working tree and ${dest} come to ${out.travellingBytes} bytes, over the device tool's ${LIMIT_BYTES} (64 MiB)\n`);
    process.exit(1);
  }
}
