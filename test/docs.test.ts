// The documentation names what the code declares: every registered measure, with its baselines,
// settings and metrics, is in docs/vlab.md; the README links the architecture inside the repository.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { allMetrics } from '../lab/measure.js';
import { allMeasures, settingsOf } from '../lab/registry.js';

const ROOT = join(import.meta.dirname, '..');
const vlab = readFileSync(join(ROOT, 'docs', 'vlab.md'), 'utf8');

describe('docs/vlab.md', () => {
  it.each(allMeasures().map((m) => [m.name, m] as const))('documents %s: its baselines, settings and metrics', (name, m) => {
    const missing = [name, ...m.baselines, ...Object.keys(settingsOf(m)), ...allMetrics(m)].filter((x) => !vlab.includes(`\`${x}\``) && !new RegExp(`[|,] ?${x}[ ,|]`).test(vlab));
    expect(missing).toEqual([]);
  });
});

describe('README.md', () => {
  it('links docs/architecture.md, and nothing outside the repository', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain('(docs/architecture.md)');
    expect(readme).not.toMatch(/\]\(\.\.\//);
    // Every link is a path inside the checkout that exists (no URL, no absolute path, no ../).
    for (const [, target] of readme.matchAll(/\]\(([^)\s]+)\)/g)) {
      const path = target!.split('#')[0]!;
      expect(target).not.toMatch(/^(\w+:|\/|\.\.)/);
      if (path) expect(existsSync(join(ROOT, path)), target).toBe(true);
    }
  });

  it('registers the tslab kernel with the Python that runs jupyter, not whichever python3 is first on PATH', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain(`npx tslab install --python="$(sed -n '1s/^#! *//p' "$(command -v jupyter)")"`);
    expect(readme).not.toContain('npx tslab install --python=python3');
  });
});
