// The seed corpus of hostile model directories (test/fixtures/hostile/): each one fails to load with
// exactly the error its expected.json names ({ code, file, message }: "<dir>/<file>: <message>"), or,
// with stage "forward", loads and fails its first pass ({ stage, code, message }: a NaN or an infinity
// in the weights is VL_ERR_NUMERIC), and the runtime stays usable. The same directories seed the
// sanitizer job's fuzz run (.ci/run).
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
    const want = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as { stage?: 'forward'; code: string; file?: string; message: string };
    const fail = (e: unknown) => e;
    let err: unknown;
    if (want.stage === 'forward') {
      const m = await rt.loadModel(dir);
      const s = m.createSession();
      err = await s.forward([0, 1]).then(() => null, fail);
      expect(s.tokens).toBe(0);
      m.dispose();
    } else {
      err = await rt.loadModel(dir).then(() => null, fail);
    }
    expect(err).toBeInstanceOf(VramlabError);
    const e = err as VramlabError;
    expect([e.code, e.message]).toEqual([want.code, want.file === undefined ? want.message : `${join(dir, want.file)}: ${want.message}`]);
    expect(rt.memory().current).toBe(0);
    (await rt.loadModel(MHA)).dispose(); // still usable
  });
});
