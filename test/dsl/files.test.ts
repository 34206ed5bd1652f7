// .vlab files read safely: only regular files, size-checked before a byte is read (a FIFO blocked
// forever, /dev/zero ran Node out of memory), a UTF-8 byte order mark accepted, a file that is not UTF-8
// text one diagnostic at its first bad byte, and check agreeing with plan / run about a file with no
// experiment.
import { spawnSync } from 'node:child_process';
import { readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSource, compileSource, DiagnosticsError, readVlabFile } from '../../dsl/index.js';
import { firstNonText } from '../../dsl/text.js';
import { Temps, vramlabError } from '../helpers.js';

const temps = new Temps();
afterAll(() => temps.removeAll());
const EXPERIMENT = join(import.meta.dirname, '..', '..', 'experiments', 'decode.vlab');

describe('readVlabFile', () => {
  it('a FIFO fails at once instead of blocking', () => {
    const path = join(temps.make(), 'x.vlab');
    expect(spawnSync('mkfifo', [path]).status).toBe(0);
    const e = vramlabError(() => readVlabFile(path));
    expect([e.code, e.message]).toEqual(['VL_ERR_IO', `${path}: is a FIFO, not a .vlab file`]);
  });

  it('a link to /dev/zero', () => {
    const path = join(temps.make(), 'zero.vlab');
    symlinkSync('/dev/zero', path);
    const e = vramlabError(() => readVlabFile(path));
    expect([e.code, e.message]).toEqual(['VL_ERR_IO', `${path}: is a character device, not a .vlab file`]);
  });

  it('a file over the size limit is refused before it is read', () => {
    const path = join(temps.make(), 'big.vlab');
    writeFileSync(path, '');
    truncateSync(path, 2 ** 30);
    const e = vramlabError(() => readVlabFile(path));
    expect([e.code, e.message]).toEqual(['VL_ERR_FORMAT', `${path}: ${2 ** 30} bytes, more than the ${2 ** 20} a .vlab file may have`]);
  });

  it('a missing file and a directory', () => {
    const dir = temps.make();
    expect(vramlabError(() => readVlabFile(join(dir, 'none.vlab'))).message).toBe(`${join(dir, 'none.vlab')}: no such file`);
    expect(vramlabError(() => readVlabFile(dir)).message).toBe(`${dir}: is a directory, not a .vlab file`);
  });

  it('a UTF-8 byte order mark is accepted', () => {
    const path = join(temps.make(), 'bom.vlab');
    const text = readFileSync(EXPERIMENT, 'utf8');
    writeFileSync(path, '\uFEFF' + text);
    expect(readVlabFile(path)).toBe(text);
    expect(compileSource(readVlabFile(path), { file: EXPERIMENT }).experiments.length).toBeGreaterThan(0);
  });
});

describe('firstNonText: where bytes stop being UTF-8 text, as line:col the lexer counts', () => {
  const at = (bytes: number[] | string) => firstNonText(typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Uint8Array.from(bytes));

  it('text, with every kind of line end and code points of 1 to 4 bytes, is text', () => {
    expect(at('a\r\nb\rc\nd \u00e9 \u20ac \u{1F600}\t\f\v\u0001')).toBeNull();
  });

  it.each([
    ['a NUL', [0x61, 0x00], { offset: 1, line: 1, column: 2, what: 'a NUL byte' }],
    ['a lone continuation byte', [0x61, 0x0a, 0x62, 0x80], { offset: 3, line: 2, column: 2, what: 'byte 0x80 is not UTF-8' }],
    ['an overlong /', [0xc0, 0xaf], { offset: 0, line: 1, column: 1, what: 'byte 0xC0 is not UTF-8' }],
    ['an overlong 3-byte form', [0xe0, 0x80, 0xaf], { offset: 0, line: 1, column: 1, what: 'byte 0xE0 is not UTF-8' }],
    ['a UTF-16 surrogate', [0x20, 0xed, 0xa0, 0x80], { offset: 1, line: 1, column: 2, what: 'byte 0xED is not UTF-8' }],
    ['past U+10FFFF', [0xf4, 0x90, 0x80, 0x80], { offset: 0, line: 1, column: 1, what: 'byte 0xF4 is not UTF-8' }],
    ['a sequence cut short at the end', [0x61, 0xe2, 0x82], { offset: 1, line: 1, column: 2, what: 'byte 0xE2 is not UTF-8' }],
    // \r\n is one line end, a lone \r another; an emoji is two UTF-16 units of column
    ['after \r\n, \r and an emoji', [0x61, 0x0d, 0x0a, 0x62, 0x0d, 0xf0, 0x9f, 0x98, 0x80, 0xff], { offset: 7, line: 3, column: 3, what: 'byte 0xFF is not UTF-8' }],
  ])('%s', (_, bytes, want) => {
    expect(at(bytes)).toEqual(want);
  });
});

describe('readVlabFile of a file that is not text', () => {
  it('a binary file: one not-text diagnostic at its first NUL', () => {
    const path = join(temps.make(), 'bin.vlab');
    writeFileSync(path, Buffer.concat([Buffer.from('experiment a {\n  measure'), Buffer.from([0, 1, 2, 0xff, 0, 0x80]), Buffer.alloc(4096, 0)]));
    let err: unknown = null;
    try {
      readVlabFile(path);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DiagnosticsError);
    const d = (err as DiagnosticsError).diagnostics;
    expect(d.map((x) => [x.line, x.column, x.code, x.message])).toEqual([[2, 10, 'not-text', 'not a text file: a NUL byte']]);
  });

  it('after a byte order mark, columns count from the text', () => {
    const path = join(temps.make(), 'latin1.vlab');
    writeFileSync(path, Buffer.concat([Buffer.from('\uFEFFexperiment caf'), Buffer.from([0xe9]), Buffer.from(' {}\n')]));
    expect(vramlabError(() => readVlabFile(path)).message).toBe(`${path}:1:15: error: not a text file: byte 0xE9 is not UTF-8\n  hint: .vlab files are UTF-8 text: is this the right file?`);
  });
});

describe('a file with no experiment', () => {
  it('check reports it as plan and run do', () => {
    const d = checkSource('// nothing here\n', { file: 'empty.vlab' });
    expect(d.map((x) => [x.code, x.message])).toEqual([['missing', 'the file has no experiment']]);
    expect(() => compileSource('// nothing here\n', { file: 'empty.vlab' })).toThrow(/the file has no experiment/);
  });
});
