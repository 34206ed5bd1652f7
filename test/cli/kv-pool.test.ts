// The KV pool error through the real binary (issue 18): one line naming --kv-pool-tokens, that tells
// the user to free sessions only when there are other sessions.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GQA, tempDir, vramlab } from '../helpers.js';

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RAISE = 'raise the KV pool (--kv-pool-tokens, or kvPoolTokens in the API)';

describe('vramlab generate: the KV pool error', () => {
  it('one session: no advice to free other sessions', () => {
    const ids = Array.from({ length: 40 }, (_, i) => i).join(',');
    const r = vramlab('generate', GQA, '--ids', ids, '--max-new-tokens', '1', '--kv-pool-tokens', '32');
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `vramlab: KV pool exhausted: the step needs 3 blocks (48.00 KiB: 0 of the session's back from host memory, 3 new) but only 2 of the 2 are free, and no other session holds any; ${RAISE}\n`,
    );
  });

  it('sessions in turns without paging: the idle ones are named, and paging', () => {
    const file = join(dir, 'two.txt');
    writeFileSync(file, `${Array.from({ length: 20 }, (_, i) => i).join(',')}\n${Array.from({ length: 20 }, (_, i) => i + 50).join(',')}\n`);
    const r = vramlab('generate', GQA, '--ids-file', file, '--max-new-tokens', '2', '--turns', '--paging', 'none', '--kv-pool-tokens', '48');
    expect(r.status).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^vramlab: .*KV pool exhausted: the step needs 2 blocks .* but only 1 of the 3 are free \(0 held by running sessions, 2 by idle ones\); paging is off \(--paging none, or paging: 'none' in the API\): turn it on, free idle sessions, or raise the KV pool \(--kv-pool-tokens, or kvPoolTokens in the API\)\n$/);
  });
});
