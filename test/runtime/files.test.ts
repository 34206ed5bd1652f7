// runtime/files.ts, the one reader and writer of users' files: what it takes and refuses at its edges
// (the command-line test/cli/hostile-files.test.ts tries every input kind; this one the reader itself).
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fileExists, readFileOrPipe, readJsonObject, readRegularFile, readStream, writeRegularFile } from '../../runtime/files.js';
import { VramlabError } from '../../runtime/index.js';
import { Temps, vramlabError } from '../helpers.js';

const temps = new Temps();
afterAll(() => temps.removeAll());
const dir = temps.make();
let n = 0;
const fresh = (name: string) => join(dir, `${n++}-${name}`);
const fifo = () => {
  const p = fresh('fifo');
  expect(spawnSync('mkfifo', [p]).status).toBe(0);
  return p;
};
const err = (f: () => unknown) => {
  const e = vramlabError(f);
  return [e.code, e.message];
};

describe('fileExists', () => {
  it('is false only where nothing can be: a missing name, a file as a folder, a name too long', () => {
    const file = fresh('f');
    writeFileSync(file, 'x');
    expect([fileExists(file), fileExists(dir), fileExists(fresh('none')), fileExists(join(file, 'below')), fileExists(join(dir, 'x'.repeat(300)))]).toEqual([true, true, false, false, false]);
    const dangling = fresh('dangling');
    symlinkSync(fresh('nowhere'), dangling);
    expect(fileExists(dangling)).toBe(false);
  });

  it('a loop of symbolic links is an error naming it, not a missing file; a NUL in a path is refused', () => {
    const loop = fresh('loop');
    symlinkSync(loop, loop);
    expect(err(() => fileExists(loop))).toEqual(['VL_ERR_IO', `${loop}: cannot read (a loop of symbolic links)`]);
    expect(err(() => fileExists(`${dir}/a\0b`))).toEqual(['VL_ERR_INVALID_ARGUMENT', `${JSON.stringify(`${dir}/a\0b`)}: a file path cannot hold a NUL byte`]);
    expect(err(() => readRegularFile(`${dir}/a\0b`, 10, 'a file'))[0]).toBe('VL_ERR_INVALID_ARGUMENT');
  });
});

describe('readRegularFile', () => {
  it('reads a file of exactly its limit, refuses one byte more before reading it', () => {
    const path = fresh('f');
    writeFileSync(path, 'abcd');
    expect(readRegularFile(path, 4, 'a test file').toString()).toBe('abcd');
    expect(err(() => readRegularFile(path, 3, 'a test file'))).toEqual(['VL_ERR_FORMAT', `${path}: 4 bytes, more than the 3 a test file may have`]);
    truncateSync(path, 2 ** 40); // sparse: a read would take hours and a terabyte
    expect(err(() => readRegularFile(path, 2 ** 20, 'a test file'))).toEqual(['VL_ERR_FORMAT', `${path}: ${2 ** 40} bytes, more than the ${2 ** 20} a test file may have`]);
  });

  it('a JSON file that is not an object, or not JSON, says so naming it', () => {
    const path = fresh('j.json');
    writeFileSync(path, '[1]');
    expect(err(() => readJsonObject(path, 100, 'a test file'))).toEqual(['VL_ERR_FORMAT', `${path}: not a JSON object`]);
    writeFileSync(path, '{"a": ');
    expect(err(() => readJsonObject(path, 100, 'a test file'))[1]).toMatch(new RegExp(`^${path}: not JSON \\(`));
  });
});

describe('readFileOrPipe: a pipe is read as it comes, to its limit', () => {
  it('a FIFO with a writer, a regular file, and not a device', async () => {
    const p = fifo();
    spawn('sh', ['-c', `sleep 0.2; printf 'from a pipe' > "${p}"`]);
    expect((await readFileOrPipe(p, 100, 'a test file')).toString()).toBe('from a pipe');
    const file = fresh('f');
    writeFileSync(file, 'from a file');
    expect((await readFileOrPipe(file, 100, 'a test file')).toString()).toBe('from a file');
    await expect(readFileOrPipe('/dev/zero', 100, 'a test file')).rejects.toThrow(new VramlabError('VL_ERR_IO', '/dev/zero: is a character device, not a test file'));
  });

  it('a pipe with more than the limit is refused once it has passed it (the writer is not read to its end)', async () => {
    const p = fifo();
    const writer = spawn('sh', ['-c', `yes > "${p}"`]);
    try {
      await expect(readFileOrPipe(p, 2 ** 20, 'a test file')).rejects.toThrow(`${p}: more than the 1048576 bytes a test file may have`);
    } finally {
      writer.kill();
    }
  });

  it('a stream (stdin) likewise', async () => {
    async function* chunks() {
      yield Buffer.from('abc');
      yield 'def';
    }
    expect((await readStream(chunks(), 6, 'stdin', 'a script')).toString()).toBe('abcdef');
    await expect(readStream(chunks(), 5, 'stdin', 'a script')).rejects.toThrow('stdin: more than the 5 bytes a script may have');
  });
});

describe('writeRegularFile', () => {
  it('creates, replaces (a longer old file cut to the new one) and appends', () => {
    const path = fresh('w');
    writeRegularFile(path, 'a long first text');
    writeRegularFile(path, 'short');
    writeRegularFile(path, Buffer.from(' and more'), { append: true });
    expect(readFileSync(path, 'utf8')).toBe('short and more');
  });

  it('refuses a FIFO (with or without a reader), a device and a directory before writing a byte', () => {
    const lonely = fifo();
    const read = fifo();
    const reader = spawn('sh', ['-c', `cat "${read}" > /dev/null`]);
    try {
      for (const [path, kind] of [[lonely, 'a FIFO'], [read, 'a FIFO'], ['/dev/null', 'a character device'], ['/dev/full', 'a character device'], [dir, 'a directory']] as const)
        expect(err(() => writeRegularFile(path, 'x', { doing: 'write the test' }))).toEqual(['VL_ERR_IO', `${path}: cannot write the test (is ${kind}, not a regular file)`]);
    } finally {
      reader.kill();
    }
  });

  it('names the file the user knows for a temporary one (shownAs), and why it failed', () => {
    expect(err(() => writeRegularFile(join(dir, 'no', 'such', 'dir', 'x.tmp'), 'x', { shownAs: 'x.json' }))).toEqual(['VL_ERR_IO', 'x.json: cannot write (no such file or directory)']);
    expect(err(() => writeRegularFile('/dev/null', 'x', { shownAs: 'x.json' }))).toEqual(['VL_ERR_IO', 'x.json: cannot write (/dev/null is a character device, not a regular file)']);
  });
});
