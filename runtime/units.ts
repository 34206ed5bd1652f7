// units.ts: byte sizes as users write them ("512MB", "24GiB", "1.5 GB") and back.
import { VramlabError } from './errors.js';

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

/** Parses a size: a number of bytes, or a number with a unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB). */
export function parseSize(text: string | number): number {
  if (typeof text === 'number') {
    if (!Number.isFinite(text) || text < 0) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `size ${text} must be a non-negative number of bytes`);
    return Math.floor(text);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? (m[2] ?? '').toLowerCase() || 'b' : '';
  const scale = UNITS[unit];
  if (!m || scale === undefined)
    throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `size "${text}" is not a size: write a number with a unit, e.g. 512MB or 24GiB`);
  return Math.floor(Number(m[1]) * scale);
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
