// The KV pool error as a user meets it (issue 18): it names the pool's size as the command line and
// the API call it (--kv-pool-tokens, kvPoolTokens), and tells the user to free or pause other sessions
// only when other sessions hold blocks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Model, Runtime, VramlabError } from '../../runtime/index.js';
import { GQA } from '../helpers.js';

let rt: Runtime;
beforeAll(async () => {
  rt = await Runtime.open({ device: 'cpu' });
});
afterAll(() => rt.dispose());

const ids = (n: number) => Array.from({ length: n }, (_, i) => (i * 7) % 500);
const RAISE = 'raise the KV pool (--kv-pool-tokens, or kvPoolTokens in the API)';

async function withModel(paging: 'lru' | 'none', body: (m: Model) => Promise<void>): Promise<void> {
  const m = await rt.loadModel(GQA, { kvPoolTokens: 32, paging }); // 2 blocks of 16 tokens
  try {
    await body(m);
  } finally {
    m.dispose();
  }
}

async function errorOf(p: Promise<unknown>): Promise<VramlabError> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(VramlabError);
  return e as VramlabError;
}

describe('KV pool exhausted', () => {
  it.each(['lru', 'none'] as const)('%s, the only session: no other session to free, the pool named as flag and option', async (paging) => {
    await withModel(paging, async (m) => {
      const e = await errorOf(m.createSession().forward(ids(40)));
      expect([e.code, e.message]).toEqual([
        'VL_ERR_OUT_OF_MEMORY',
        `KV pool exhausted: the step needs 3 blocks (48.00 KiB: 0 of the session's back from host memory, 3 new) but only 2 of the 2 are free, and no other session holds any; ${RAISE}`,
      ]);
    });
  });

  it('an idle session holds a block and paging is off: turn it on, free idle sessions, or raise the pool', async () => {
    await withModel('none', async (m) => {
      await m.createSession().forward([1, 2, 3]);
      const e = await errorOf(m.createSession().forward(ids(20)));
      expect(e.message).toBe(
        `KV pool exhausted: the step needs 2 blocks (32.00 KiB: 0 of the session's back from host memory, 2 new) but only 1 of the 2 are free (0 held by running sessions, 1 by idle ones); paging is off (--paging none, or paging: 'none' in the API): turn it on, free idle sessions, or ${RAISE}`,
      );
    });
  });

  it.each(['lru', 'none'] as const)('%s, running sessions hold the pool: free or pause them, or raise the pool', async (paging) => {
    await withModel(paging, async (m) => {
      const [a, b] = [m.createSession(), m.createSession()];
      const [first, second] = await m.forwardBatch([
        { session: a, ids: ids(20) },
        { session: b, ids: ids(20) },
      ]);
      expect(first?.error).toBeNull();
      expect(second?.error?.message).toBe(
        `KV pool exhausted: the step needs 2 blocks (32.00 KiB: 0 of the session's back from host memory, 2 new) but only 0 of the 2 are free (2 held by running sessions, 0 by idle ones); ${RAISE}, or free or pause the sessions that run`,
      );
    });
  });
});
