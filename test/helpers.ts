// helpers.ts: shared test utilities: fixture paths, references, relative errors, a file's CPU runtime,
// the error a call throws, the built command line, and writers for (deliberately broken) model directories.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { Runtime, VramlabError } from '../runtime/index.js';

export const FIXTURES = join(import.meta.dirname, 'fixtures');
export const GQA = join(FIXTURES, 'tiny-llama-gqa');
export const MHA = join(FIXTURES, 'tiny-llama-mha');

/** The repository's root, and the built command line (dist/cli/vramlab.js) the CLI tests run. */
export const ROOT = join(import.meta.dirname, '..');
export const CLI = join(ROOT, 'dist', 'cli', 'vramlab.js');

/** Runs `vramlab ARGS...` (the built binary, from the repository's root) to its end. */
export function vramlab(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: ROOT });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface Reference {
  input_ids: number[];
  logits: number[][];
  layer_outputs: number[][];
  greedy: number[];
  steer: { layer: number; scale: number; logits_last: number[] };
}

export function reference(dir: string): Reference {
  return JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as Reference;
}

export { relativeError } from '../lab/stats.js';

/** The VramlabError `f` throws; the test fails when it throws nothing, or something else. */
export function vramlabError(f: () => unknown): VramlabError {
  let err: unknown = null;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a VramlabError').toBeInstanceOf(VramlabError);
  return err as VramlabError;
}

/** A CPU runtime for the tests of one file: disposed after them, with `temps` removed when given. */
export async function cpuRuntime(temps?: Temps): Promise<Runtime> {
  const rt = await Runtime.open({ device: 'cpu' });
  afterAll(() => {
    rt.dispose();
    temps?.removeAll();
  });
  return rt;
}

export function tempDir(prefix = 'vramlab-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A copy of a fixture model directory that a test may break. */
export function copyModel(src: string): string {
  const dir = tempDir();
  cpSync(src, dir, { recursive: true });
  return dir;
}

export interface StTensor {
  dtype: string;
  shape: number[];
  data: Buffer;
}

/** Reads a safetensors file into its header order and raw tensor bytes. */
export function readSafetensors(path: string): Map<string, StTensor> {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const out = new Map<string, StTensor>();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    out.set(name, { dtype: t.dtype, shape: t.shape, data: buf.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]) });
  }
  return out;
}

/** Writes tensors as a safetensors file (optionally with a header edited by `edit`). */
export function writeSafetensors(path: string, tensors: Map<string, StTensor>, edit?: (h: Record<string, unknown>) => void): void {
  const header: Record<string, unknown> = {};
  const datas: Buffer[] = [];
  let off = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.data.length] };
    datas.push(t.data);
    off += t.data.length;
  }
  edit?.(header);
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, json, ...datas]));
}

export function editConfig(dir: string, edit: (c: Record<string, unknown>) => void): void {
  const path = join(dir, 'config.json');
  const c = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  edit(c);
  writeFileSync(path, JSON.stringify(c, null, 2));
}

/** IEEE half-precision bytes -> float32 bytes (little-endian), for re-typing a tensor in a test. */
export function f16ToF32(data: Buffer): Buffer {
  const out = Buffer.alloc(data.length * 2);
  for (let i = 0; i < data.length / 2; i++) {
    const h = data.readUInt16LE(2 * i);
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    const v = exp === 0 ? sign * frac * 2 ** -24 : exp === 31 ? (frac ? NaN : sign * Infinity) : sign * (1 + frac / 1024) * 2 ** (exp - 15);
    out.writeFloatLE(v, 4 * i);
  }
  return out;
}

/**
 * Rewrites a model directory's weights as shards: `shardOf(name, index)` picks the shard (0-based) of
 * each tensor; writes model-0000K-of-0000N.safetensors, model.safetensors.index.json, and removes
 * model.safetensors.
 */
export function writeSharded(dir: string, tensors: Map<string, StTensor>, shards: number, shardOf: (name: string, index: number) => number): void {
  const parts = Array.from({ length: shards }, () => new Map<string, StTensor>());
  const weightMap: Record<string, string> = {};
  const fileName = (k: number) => `model-${String(k + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
  let i = 0;
  for (const [name, t] of tensors) {
    const k = shardOf(name, i++);
    (parts[k] as Map<string, StTensor>).set(name, t);
    weightMap[name] = fileName(k);
  }
  parts.forEach((p, k) => writeSafetensors(join(dir, fileName(k)), p));
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }, null, 2));
  rmSync(join(dir, 'model.safetensors'));
}

/** Temporary directories of one test file, removed by `removeAll` (call it in afterAll). */
export class Temps {
  readonly dirs: string[] = [];
  copy(src: string): string {
    const d = copyModel(src);
    this.dirs.push(d);
    return d;
  }
  make(): string {
    const d = tempDir();
    this.dirs.push(d);
    return d;
  }
  removeAll(): void {
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}
