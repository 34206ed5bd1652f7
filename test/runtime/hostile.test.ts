// The seed corpus of hostile model directories (test/fixtures/hostile/): each one fails to load with
// exactly the error its expected.json names ({ code, file, message }: "<dir>/<file>: <message>"), and
// the runtime stays usable. The same directories seed the sanitizer job's fuzz run (.ci/run).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VramlabError } from '../../runtime/index.js';
import { cpuRuntime, FIXTURES, MHA } from '../helpers.js';

const HOSTILE = join(FIXTURES, 'hostile');
const rt = await cpuRuntime();

describe('hostile model directories', () => {
  it.each(readdirSync(HOSTILE).sort())('%s', async (name) => {
    const dir = join(HOSTILE, name);
    const want = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as { code: string; file: string; message: string };
    const err = await rt.loadModel(dir).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(VramlabError);
    const e = err as VramlabError;
    expect([e.code, e.message]).toEqual([want.code, `${join(dir, want.file)}: ${want.message}`]);
    expect(rt.memory().current).toBe(0);
    (await rt.loadModel(MHA)).dispose(); // still usable
  });
});
