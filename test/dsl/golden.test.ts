// Golden parse -> check -> plan tests: every experiments/*.vlab file checks clean and compiles to the
// plan stored in test/dsl/golden/ (for its own device and for the CPU). UPDATE_GOLDEN=1 rewrites them.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource, compileSource, parseVlab } from '../../dsl/index.js';

const ROOT = join(import.meta.dirname, '..', '..');
const EXPERIMENTS = join(ROOT, 'experiments');
const GOLDEN = join(import.meta.dirname, 'golden');
const files = readdirSync(EXPERIMENTS).filter((f) => f.endsWith('.vlab')).sort();

/** The plan as stored: the checkout's path replaced by <root>. */
function normalized(plan: unknown): string {
  return JSON.stringify(plan, null, 1).replaceAll(ROOT, '<root>') + '\n';
}

describe('experiments/', () => {
  it('has a file for each experiment the runtime supports', () => {
    expect(files).toEqual(['agents.vlab', 'bandwidth.vlab', 'breakpoints.vlab', 'decode.vlab', 'paging.vlab', 'steering.vlab', 'streaming.vlab']);
  });

  describe.each(files)('%s', (name) => {
    const file = `experiments/${name}`;
    const text = readFileSync(join(EXPERIMENTS, name), 'utf8');

    it('parses and checks clean', () => {
      expect(parseVlab(text, file).diagnostics).toEqual([]);
      expect(checkSource(text, { file, baseDir: EXPERIMENTS })).toEqual([]);
    });

    it.each([
      ['own device', undefined],
      ['cpu', 'cpu'],
    ])('compiles to the golden plan (%s)', (_, device) => {
      const plan = normalized(compileSource(text, { file, baseDir: EXPERIMENTS, device }));
      const golden = join(GOLDEN, `${name.replace('.vlab', '')}${device ? `.${device}` : ''}.plan.json`);
      if (process.env['UPDATE_GOLDEN']) writeFileSync(golden, plan);
      expect(existsSync(golden), `${golden} is missing: run UPDATE_GOLDEN=1 npx vitest run test/dsl/golden.test.ts`).toBe(true);
      expect(plan).toBe(readFileSync(golden, 'utf8'));
    });
  });
});
