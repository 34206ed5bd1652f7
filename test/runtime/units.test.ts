// Byte sizes as users write them, and back.
import { describe, expect, it } from 'vitest';
import { formatSize, parseSize } from '../../runtime/index.js';
import { vramlabError } from '../helpers.js';

describe('parseSize', () => {
  it.each([
    ['512MB', 512e6],
    ['24GiB', 24 * 2 ** 30],
    ['1.5 GB', 1.5e9],
    ['100', 100],
    ['100B', 100],
    ['0', 0],
    ['64KB', 64_000],
    ['1KiB', 1024],
    ['16MiB', 16 * 2 ** 20],
    ['2TB', 2e12],
    ['1TiB', 2 ** 40],
    ['512mb', 512e6],
    ['24gib', 24 * 2 ** 30],
    ['  80 GB  ', 80e9],
    ['0.5KiB', 512],
    ['1.0001KB', 1000], // whole bytes, rounded down
  ])('"%s" is %d bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it('takes numbers as bytes, rounded down', () => {
    expect(parseSize(4096)).toBe(4096);
    expect(parseSize(1234.9)).toBe(1234);
    expect(parseSize(0)).toBe(0);
  });

  it.each(['12 parsecs', '', '   ', 'MB', 'GiB', '-5MB', '1e3', '1,5GB', '.5GB', '5 G B', '5MBs', '0x10', 'twelve'])('rejects "%s"', (text) => {
    const err = vramlabError(() => parseSize(text));
    expect(err.code).toBe('VL_ERR_INVALID_ARGUMENT');
    expect(err.message).toContain(`"${text}"`);
    expect(err.message).toMatch(/512MB|24GiB/); // says how to write one
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('rejects the number %d', (n) => {
    expect(vramlabError(() => parseSize(n)).code).toBe('VL_ERR_INVALID_ARGUMENT');
  });
});

describe('formatSize', () => {
  it.each([
    [0, '0 B'],
    [17, '17 B'],
    [1023, '1023 B'],
    [1024, '1.00 KiB'],
    [312 * 1024, '312.00 KiB'],
    [1536, '1.50 KiB'],
    [2 ** 20, '1.00 MiB'],
    [1.5 * 2 ** 30, '1.50 GiB'],
    [80e9, '74.51 GiB'],
    [2 ** 40, '1.00 TiB'],
    [2 ** 50, '1024.00 TiB'],
  ])('%d bytes is "%s"', (bytes, text) => {
    expect(formatSize(bytes)).toBe(text);
  });

  it('round-trips binary sizes through parseSize', () => {
    for (const text of ['1.00 KiB', '16.00 MiB', '24.00 GiB', '1.50 TiB']) expect(formatSize(parseSize(text))).toBe(text);
  });
});
