// files.ts: reading a user's file safely. A path may name a FIFO (a read blocks forever), /dev/zero
// (endless) or a huge file: a file is read only when it is a regular file, opened without blocking,
// and its size is checked before a byte is read.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { VramlabError } from '../runtime/errors.js';

function kindOf(st: ReturnType<typeof fstatSync>): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** The bytes of the regular file at `path`, at most `maxBytes` of them; a VramlabError naming it otherwise. */
export function readRegularFile(path: string, maxBytes: number, what: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new VramlabError('VL_ERR_IO', `${path}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new VramlabError('VL_ERR_IO', `${path}: is ${kindOf(st)}, not ${what}`);
    if (st.size > maxBytes) throw new VramlabError('VL_ERR_FORMAT', `${path}: ${st.size} bytes, more than the ${maxBytes} ${what} may have`);
    const buf = Buffer.alloc(st.size);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break; // the file shrank while read: what is there
      got += n;
    }
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}
