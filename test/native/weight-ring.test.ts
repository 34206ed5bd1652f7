// The skip-end ring plan (native/src/weight_ring.cpp), checked natively on random layer sizes and
// capacities by native/build/test-weight-ring.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';

it('plans every random layer sequence without a wrap, in order, with exact reuse dependencies', () => {
  const run = spawnSync(join(import.meta.dirname, '..', '..', 'native', 'build', 'test-weight-ring'), [], { encoding: 'utf8' });
  expect(run.error).toBeUndefined();
  expect(run.stdout).not.toMatch(/FAIL/);
  expect(run.stdout).toMatch(/^\d{4,} passed, 0 failed$/m);
  expect(run.status).toBe(0);
});
