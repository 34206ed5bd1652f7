// The documentation names what the code declares: every registered measure, with its baselines,
// settings and metrics, is in docs/vlab.md; the README links the architecture inside the repository.
import { readFileSync } from 'node:fs';
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
  });
});
