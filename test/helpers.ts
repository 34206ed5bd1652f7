// helpers.ts: shared test utilities: fixture paths, references, relative errors, and writers for
// (deliberately broken) model directories.
import { mkdtempSync, readFileSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const FIXTURES = join(import.meta.dirname, 'fixtures');
export const GQA = join(FIXTURES, 'tiny-llama-gqa');
export const MHA = join(FIXTURES, 'tiny-llama-mha');

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

/** ||a - b|| / ||b|| */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] as number) - (b[i] as number);
    num += d * d;
    den += (b[i] as number) ** 2;
  }
  return Math.sqrt(num / den);
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
