// link-self.mjs: node_modules/vramlab -> .. so that notebooks inside the checkout can
// `import { ... } from "vramlab"`: tslab type-checks cells with TypeScript's node10 module resolution,
// which looks in node_modules and ignores package.json "exports" (and so the package's self-reference).
// npm removes the link as extraneous on every install; `prepare` (after install) puts it back.
import { lstatSync, mkdirSync, readlinkSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const link = join(root, 'node_modules', 'vramlab');
let existing = null;
try {
  existing = lstatSync(link);
} catch {
  // absent: made below
}
if (existing === null) {
  mkdirSync(dirname(link), { recursive: true });
  symlinkSync('..', link, 'dir');
} else if (!existing.isSymbolicLink() || readlinkSync(link) !== '..') {
  console.error(`link-self: ${link} exists and is not the link to this checkout; remove it and run npm install again`);
  process.exit(1);
}
