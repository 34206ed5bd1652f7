// units.ts: byte sizes as users write them ("512MB", "24GiB", "1.5 GB") and back.
import { shown, VramlabError } from './errors.js';

const UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/**
 * The largest size accepted: 2^53 - 1 bytes (8 PiB), the largest integer a number holds exactly. Above
 * it a size would round, and above 2^64 it would wrap when narrowed to the ABI's uint64_t (a budget of
 * 18446744073709555712 became 4 KiB).
 */
export const MAX_SIZE = Number.MAX_SAFE_INTEGER;

function bounded(bytes: number, text: string | number): number {
  if (bytes > MAX_SIZE) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `size ${String(text)} is above the limit of ${MAX_SIZE} bytes (8 PiB)`);
  return bytes;
}

/** Parses a size: a number of bytes, or a number with a unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB). */
export function parseSize(text: string | number): number {
  if (typeof text === 'number') {
    if (!Number.isFinite(text) || text < 0) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `size ${text} must be a non-negative number of bytes`);
    return bounded(Math.floor(text), text);
  }
  if (typeof text !== 'string') throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `a size must be a number of bytes or a string such as "512MB", got ${shown(text)}`);
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? (m[2] ?? '').toLowerCase() || 'b' : '';
  const scale = Object.hasOwn(UNITS, unit) ? UNITS[unit] : undefined;
  if (!m || scale === undefined)
    throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `size "${text}" is not a size: write a number with a unit, e.g. 512MB or 24GiB`);
  return bounded(Math.floor(Number(m[1]) * scale), text);
}

/** "1.50 GiB", "312.00 KiB", "17 B". */
export function formatSize(bytes: number): string {
  const names = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < names.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${bytes} B` : `${v.toFixed(2)} ${names[u]}`;
}
