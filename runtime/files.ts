// files.ts: every file vramlab reads or writes for a user goes through here (test/files.test.ts checks
// that nothing else opens one). A path may name a FIFO (a read blocks forever), /dev/zero (endless), a
// directory, a loop of symbolic links or a huge file: a file is read only when it is a regular file,
// opened without blocking, and its size is checked before a byte is read. The one exception is a
// reader that takes a pipe on purpose (`--ids-file <(cmd)`): it reads the pipe to its end, at most its
// limit. A file is written only when it is a regular file (or new): a FIFO or a device is refused,
// so that a write neither waits for a reader forever nor goes to /dev/full.
import { closeSync, constants, createReadStream, fstatSync, ftruncateSync, openSync, readSync, type Stats, statSync, writeSync } from 'node:fs';
import { VramlabError } from './errors.js';

/** The largest config.json, generation_config.json or tokenizer_config.json read (the native loader's limit for config.json too). */
export const MAX_CONFIG_BYTES = 16 * 2 ** 20;

/** What a file that is not a regular file is, in words. */
function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** Why a file operation failed, in words (the errno code when it has no words here). */
export function fileErrorReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EISDIR') return 'is a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ENOTDIR') return 'a part of the path is a file';
  if (code === 'ENOSPC') return 'no space left on the device';
  if (code === 'EDQUOT') return 'the disk quota is used up';
  if (code === 'EROFS') return 'read-only file system';
  if (code === 'ELOOP') return 'a loop of symbolic links';
  if (code === 'ENAMETOOLONG') return 'the name is too long';
  if (code === 'EFBIG') return 'the file would be too large';
  if (code === 'EIO') return 'an input/output error';
  return (e as Error).message.replace(/\s+/g, ' ');
}

/** A path Node and the C library would both take: a NUL would end it early in C, and Node refuses it. */
function checkPath(path: string): void {
  if (typeof path !== 'string' || path === '') throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `a file path must be a non-empty string, got ${JSON.stringify(path) ?? String(path)}`);
  if (path.includes('\0')) throw new VramlabError('VL_ERR_INVALID_ARGUMENT', `${JSON.stringify(path)}: a file path cannot hold a NUL byte`);
}

function openError(path: string, e: unknown): VramlabError {
  const code = (e as NodeJS.ErrnoException).code;
  return new VramlabError('VL_ERR_IO', `${path}: ${code === 'ENOENT' ? 'no such file' : `cannot read (${fileErrorReason(e)})`}`);
}

/** Why nothing can be at a path: a name missing, a file where a folder should be, a name too long to be one. */
const NOTHING_THERE = ['ENOENT', 'ENOTDIR', 'ENAMETOOLONG'];

/**
 * Whether something is at `path`: true for a file of any kind (the readers say what is wrong with one
 * that is not a regular file), false when nothing can be (a missing file, a link to one). A
 * VramlabError naming the path when it cannot be looked at: a loop of symbolic links, or a folder it
 * may not search, is not a missing file.
 */
export function fileExists(path: string): boolean {
  checkPath(path);
  try {
    statSync(path);
    return true;
  } catch (e) {
    if (NOTHING_THERE.includes((e as NodeJS.ErrnoException).code ?? '')) return false;
    throw openError(path, e);
  }
}

/** Opens `path` for reading without blocking; its descriptor and what fstat says of it. */
function openForReading(path: string): { fd: number; st: Stats } {
  checkPath(path);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw openError(path, e);
  }
  try {
    return { fd, st: fstatSync(fd) };
  } catch (e) {
    closeSync(fd);
    throw openError(path, e);
  }
}

/** The contents of an open file that must be a regular file of at most `maxBytes` (a file that shrank while read gives what is there). */
function contents(path: string, fd: number, st: Stats, maxBytes: number, what: string): Buffer {
  if (!st.isFile()) throw new VramlabError('VL_ERR_IO', `${path}: is ${kindOf(st)}, not ${what}`);
  if (st.size > maxBytes) throw new VramlabError('VL_ERR_FORMAT', `${path}: ${st.size} bytes, more than the ${maxBytes} ${what} may have`);
  const buf = Buffer.alloc(st.size);
  let got = 0;
  try {
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
  } catch (e) {
    throw new VramlabError('VL_ERR_IO', `${path}: cannot read (${fileErrorReason(e)})`);
  }
  return buf.subarray(0, got);
}

/** The bytes of the regular file at `path`, at most `maxBytes` of them; a VramlabError naming it otherwise. */
export function readRegularFile(path: string, maxBytes: number, what: string): Buffer {
  const { fd, st } = openForReading(path);
  try {
    return contents(path, fd, st, maxBytes, what);
  } finally {
    closeSync(fd);
  }
}

/** A regular file as UTF-8 text (readRegularFile's checks). */
export function readTextFile(path: string, maxBytes: number, what: string): string {
  return readRegularFile(path, maxBytes, what).toString('utf8');
}

/** A regular file's JSON value; VL_ERR_FORMAT "PATH: not JSON (...)" when it is not JSON. */
export function readJsonFile(path: string, maxBytes: number, what: string): unknown {
  const text = readTextFile(path, maxBytes, what);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new VramlabError('VL_ERR_FORMAT', `${path}: not JSON (${(e as Error).message.replace(/\s+/g, ' ')})`);
  }
}

/** A regular file's JSON object; VL_ERR_FORMAT when it is not JSON, or JSON of another kind. */
export function readJsonObject(path: string, maxBytes: number, what: string): Record<string, unknown> {
  const v = readJsonFile(path, maxBytes, what);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new VramlabError('VL_ERR_FORMAT', `${path}: not a JSON object`);
  return v as Record<string, unknown>;
}

/** At most `maxBytes` of a stream (a pipe, stdin), read to its end; VL_ERR_FORMAT naming `path` past the limit. */
export async function readStream(chunks: AsyncIterable<Buffer | string>, maxBytes: number, path: string, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const c of chunks) {
    const b = typeof c === 'string' ? Buffer.from(c) : c;
    size += b.length;
    if (size > maxBytes) throw new VramlabError('VL_ERR_FORMAT', `${path}: more than the ${maxBytes} bytes ${what} may have`);
    parts.push(b);
  }
  return Buffer.concat(parts);
}

/**
 * A regular file, or a pipe meant to be read (a FIFO, `<(cmd)`): the pipe is read as it comes, to its
 * end, at most `maxBytes` (it waits for a writer, as `cat` does: Ctrl-C ends the wait). Anything else
 * (a device, a directory) is refused as readRegularFile refuses it.
 */
export async function readFileOrPipe(path: string, maxBytes: number, what: string): Promise<Buffer> {
  const { fd, st } = openForReading(path);
  try {
    if (!st.isFIFO()) return contents(path, fd, st, maxBytes, what);
  } finally {
    closeSync(fd);
  }
  // Opened again, blocking, on a worker thread: the event loop (and Ctrl-C) stays free while it waits.
  const stream = createReadStream(path, { highWaterMark: 1 << 16 });
  try {
    return await readStream(stream, maxBytes, path, what);
  } catch (e) {
    throw e instanceof VramlabError ? e : new VramlabError('VL_ERR_IO', `${path}: cannot read (${fileErrorReason(e)})`);
  } finally {
    stream.destroy();
  }
}

/**
 * Writes `data` to the regular file at `path` (created when missing; replaced, or appended to with
 * `append`). A FIFO, a device or a directory there is refused before a byte is written; errors say
 * `PATH: cannot DOING (why)`, e.g. "report.html: cannot write the report (no space left on the device)",
 * naming `shownAs` instead of PATH when given (the final name of a temporary file).
 */
export function writeRegularFile(path: string, data: string | Uint8Array, options: { append?: boolean; doing?: string; shownAs?: string } = {}): void {
  const doing = options.doing ?? 'write';
  checkPath(path);
  const shown = options.shownAs ?? path;
  const writeError = (reason: string) => new VramlabError('VL_ERR_IO', `${shown}: cannot ${doing} (${reason})`);
  const refuse = (st: Stats) => writeError(`${options.shownAs ? `${path} ` : ''}is ${kindOf(st)}, not a regular file`);
  let before: Stats | undefined;
  try {
    before = statSync(path, { throwIfNoEntry: false });
  } catch (e) {
    throw writeError(fileErrorReason(e));
  }
  if (before && !before.isFile()) throw refuse(before);
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO put there since the check fails to open (ENXIO) rather than wait for a reader.
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NONBLOCK | (options.append ? constants.O_APPEND : 0), 0o666);
  } catch (e) {
    throw writeError((e as NodeJS.ErrnoException).code === 'ENXIO' ? 'is a FIFO, not a regular file' : fileErrorReason(e));
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw refuse(st);
    if (!options.append) ftruncateSync(fd, 0);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
  } catch (e) {
    throw e instanceof VramlabError ? e : writeError(fileErrorReason(e));
  } finally {
    closeSync(fd);
  }
}

/**
 * Creates the regular file `path` with `data` only when nothing is there (O_EXCL: of two processes that
 * try at once, one succeeds); false when something is. A lock or a log that must be one process's own.
 */
export function createNewFile(path: string, data: string): boolean {
  checkPath(path);
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o666);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new VramlabError('VL_ERR_IO', `${path}: cannot create (${fileErrorReason(e)})`);
  }
  try {
    const bytes = Buffer.from(data, 'utf8');
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
  } catch (e) {
    throw new VramlabError('VL_ERR_IO', `${path}: cannot write (${fileErrorReason(e)})`);
  } finally {
    closeSync(fd);
  }
  return true;
}
