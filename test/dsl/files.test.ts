// .vlab files read safely: only regular files, size-checked before a byte is read (a FIFO blocked
// forever, /dev/zero ran Node out of memory), a UTF-8 byte order mark accepted, and check agreeing with
// plan / run about a file with no experiment.
import { spawnSync } from 'node:child_process';
import { readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSource, compileSource, readVlabFile } from '../../dsl/index.js';
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

describe('a file with no experiment', () => {
  it('check reports it as plan and run do', () => {
    const d = checkSource('// nothing here\n', { file: 'empty.vlab' });
    expect(d.map((x) => [x.code, x.message])).toEqual([['missing', 'the file has no experiment']]);
    expect(() => compileSource('// nothing here\n', { file: 'empty.vlab' })).toThrow(/the file has no experiment/);
  });
});
