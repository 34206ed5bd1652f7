// results-folder: a run never replaces results. The earlier pair is renamed to its own date first, a
// pair torn by a kill (a JSON without its CSV, a CSV without its JSON) is made whole at the next write,
// and two results of the same second get names of their own.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeResultFiles } from '../../lab/results-folder.js';
import { tempDir } from '../helpers.js';

const result = (date: string, a: number) => ({ benchmark: 'decode', device: 'cpu', commit: 'x', date, rows: [{ a, status: 'ok' }] });

describe('writeResultFiles keeps what it would replace', () => {
  it('renames the earlier pair to the date in its JSON, and says so', () => {
    const dir = tempDir();
    writeResultFiles(dir, 't', result('2026-12-07T23:01:02.345Z', 1));
    const w = writeResultFiles(dir, 't', result('2026-12-08T01:00:00.000Z', 2));
    expect(w.archived).toBe(join(dir, 't.2026-12-07T23-01-02.json'));
    expect(readdirSync(dir).sort()).toEqual(['t.2026-12-07T23-01-02.csv', 't.2026-12-07T23-01-02.json', 't.csv', 't.json']);
    expect(readFileSync(join(dir, 't.2026-12-07T23-01-02.csv'), 'utf8')).toBe('a,status\n1,ok\n');
    expect(readFileSync(join(dir, 't.csv'), 'utf8')).toBe('a,status\n2,ok\n');
  });

  it('gives results of the same second their own names', () => {
    const dir = tempDir();
    for (const a of [1, 2, 3, 4]) writeResultFiles(dir, 't', result('2026-12-07T23:01:02.000Z', a));
    expect(readdirSync(dir).filter((f) => f.endsWith('.json')).sort()).toEqual(['t.2026-12-07T23-01-02-2.json', 't.2026-12-07T23-01-02-3.json', 't.2026-12-07T23-01-02.json', 't.json']);
    expect(JSON.parse(readFileSync(join(dir, 't.2026-12-07T23-01-02-3.json'), 'utf8')).rows[0].a).toBe(3);
  });

  it('a JSON left without its CSV (killed between the two writes) is archived with a CSV made from its rows', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 't.json'), JSON.stringify(result('2026-01-02T03:04:05Z', 7)));
    writeResultFiles(dir, 't', result('2026-12-08T00:00:00Z', 8));
    expect(readFileSync(join(dir, 't.2026-01-02T03-04-05.csv'), 'utf8')).toBe('a,status\n7,ok\n');
  });

  it('a CSV left without its JSON (killed between the two renames of an archive) joins that archive', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 't.2026-01-02T03-04-05.json'), JSON.stringify(result('2026-01-02T03:04:05Z', 7)));
    writeFileSync(join(dir, 't.csv'), 'a,status\n7,ok\n');
    const w = writeResultFiles(dir, 't', result('2026-12-08T00:00:00Z', 8));
    expect(w.archived).toBe(join(dir, 't.2026-01-02T03-04-05.json'));
    expect(readFileSync(join(dir, 't.2026-01-02T03-04-05.csv'), 'utf8')).toBe('a,status\n7,ok\n');
    expect(readFileSync(join(dir, 't.csv'), 'utf8')).toBe('a,status\n8,ok\n');
  });

  it('a file of the user that is not vramlab JSON is dated by its modification time and kept', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 't.json'), 'notes, not JSON');
    const w = writeResultFiles(dir, 't', result('2026-12-08T00:00:00Z', 8));
    expect(w.archived).toMatch(/t\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.json$/);
    expect(readFileSync(w.archived as string, 'utf8')).toBe('notes, not JSON');
    expect(existsSync((w.archived as string).replace(/json$/, 'csv'))).toBe(false);
  });
});
