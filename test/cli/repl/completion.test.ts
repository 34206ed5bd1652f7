// Tab completion of a REPL line (complete()): command words, layers of the loaded model, session
// numbers, save's two kinds, and file paths (folders with a slash).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { complete } from '../../../cli/repl/completion.js';
import { ReplState } from '../../../cli/repl/state.js';
import { tempDir } from '../../helpers.js';

const state = new ReplState('cpu');
const dir = tempDir('vramlab-complete-');
beforeAll(() => {
  mkdirSync(join(dir, 'models'));
  writeFileSync(join(dir, 'vec.json'), '[]');
  writeFileSync(join(dir, 'vec.npy'), '');
});
afterAll(async () => {
  await state.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('complete', () => {
  it('completes command words', () => {
    expect(complete('brea', state)).toEqual([['break '], 'brea']);
    expect(complete('s', state)[0]).toEqual(['s', 'save', 'scale', 'session', 'sessions', 'set', 'stats', 'step']);
  });

  it('completes file paths, folders with a slash', () => {
    expect(complete(`add ${dir}/v`, state)).toEqual([[`${dir}/vec.json`, `${dir}/vec.npy`], `${dir}/v`]);
    expect(complete(`load ${dir}/mo`, state)).toEqual([[`${dir}/models/`], `${dir}/mo`]);
    expect(complete('save activation ' + dir + '/vec.j', state)[0]).toEqual([`${dir}/vec.json`]);
    expect(complete('save lo', state)[0]).toEqual(['logits']);
  });

  it('completes layers and sessions of the loaded model', async () => {
    expect(complete('break ', state)[0]).toEqual([]); // no model yet
    state.rt = await (await import('../../../runtime/runtime.js')).Runtime.open({ device: 'cpu' });
    state.model = await state.rt.loadModel('synthetic:tiny');
    state.newSession();
    state.newSession();
    const L = state.model.shape.numLayers;
    expect(complete('break 1', state)[0]).toEqual(Array.from({ length: L }, (_, l) => String(l)).filter((l) => l.startsWith('1')));
    expect(complete('session ', state)[0]).toEqual(['new', '0', '1']);
  });
});
