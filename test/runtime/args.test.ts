// The API's arguments of the wrong type: each a VL_ERR_INVALID_ARGUMENT naming the argument, thrown
// before anything is allocated or crosses to the native library (a number for the device crashed the
// process through koffi; forward({ length: 2 ** 33 }) reserved 8-16 GiB before a RangeError with no
// code), and the runtime usable afterwards.
import { describe, expect, it } from 'vitest';
import { parseSyntheticSpec, Runtime, VramlabError } from '../../runtime/index.js';
import { native } from '../../runtime/native.js';
import { cpuRuntime, GQA } from '../helpers.js';

const rt = await cpuRuntime();
const model = await rt.loadModel(GQA);
const session = model.createSession();

/** Calls `f` as the untyped JavaScript a user may write. */
type Loose = (...args: never[]) => unknown;
const loose = <T extends Loose>(f: T) => f as unknown as (...args: unknown[]) => unknown;

async function rejection(f: () => unknown): Promise<[string | undefined, string]> {
  try {
    await f();
  } catch (e) {
    expect(e).toBeInstanceOf(VramlabError);
    return [(e as VramlabError).code, (e as Error).message];
  }
  throw new Error('expected a VramlabError');
}

const open = loose(Runtime.open.bind(Runtime));
const load = loose(rt.loadModel.bind(rt));
const forward = loose(session.forward.bind(session));
const generate = loose(session.generate.bind(session));
const tiny = parseSyntheticSpec('tiny');

const CASES: [string, () => unknown, string][] = [
  ['Runtime.open({ device: {} })', () => open({ device: {} }), 'device must be a string, got an object'],
  ['Runtime.open({ device: 5 }) (koffi took it for a pointer)', () => open({ device: 5 }), 'device must be a string, got 5'],
  ['Runtime.open({ device: "cuda:" })', () => open({ device: 'cuda:' }), 'device must be "cpu" or "cuda:N" (N a GPU index), got "cuda:"'],
  ['Runtime.open({ device: "cuda" })', () => open({ device: 'cuda' }), 'device must be "cpu" or "cuda:N" (N a GPU index), got "cuda"'],
  ['Runtime.open({ device: "cuda: 1" })', () => open({ device: 'cuda: 1' }), 'device must be "cpu" or "cuda:N" (N a GPU index), got "cuda: 1"'],
  ['Runtime.open({ device: "cpu\\0x" }) (C would read "cpu")', () => open({ device: 'cpu\0x' }), 'device "cpu\\u0000x" holds a NUL byte'],
  ['Runtime.open(null)', () => open(null), 'the runtime options must be an object, got null'],
  ['Runtime.open({ budget: {} })', () => open({ budget: {} }), 'a size must be a number of bytes or a string such as "512MB", got an object'],
  ['Runtime.open({ budget: "1constructor" }) (a unit from Object.prototype)', () => open({ budget: '1constructor' }), 'size "1constructor" is not a size: write a number with a unit, e.g. 512MB or 24GiB'],
  ['loadModel(42)', () => load(42), 'a model source must be a directory, "synthetic:<spec>" or a SyntheticSpec, got 42'],
  ['loadModel(null)', () => load(null), 'a model source must be a directory, "synthetic:<spec>" or a SyntheticSpec, got null'],
  ['loadModel({})', () => load({}), 'a model source must be a directory, "synthetic:<spec>" or a SyntheticSpec ({ name, shape, seed }, as parseSyntheticSpec gives)'],
  ['loadModel(a spec with a string for a count)', () => load({ ...tiny, shape: { ...tiny.shape, numLayers: '2' } }), 'shape.numLayers must be a whole number from 1 to 2147483647, got "2"'],
  ['loadModel(a directory with a NUL)', () => load(`${GQA}\0junk`), `the model directory ${JSON.stringify(`${GQA}\0junk`)} holds a NUL byte`],
  ['loadModel(dir, 5)', () => load(GQA, 5), 'the load options must be an object, got 5'],
  ['loadModel(dir, { onProgress: 5 })', () => load(GQA, { onProgress: 5 }), 'onProgress must be a function, got 5'],
  ['forward({ length: 2 ** 33 })', () => forward({ length: 2 ** 33 }), '8589934592 token ids are more than the 2147483647 a step takes'],
  ['forward({ length: 2 ** 30 }) (nothing at [0]: no 4 GiB copy made first)', () => forward({ length: 2 ** 30 }), 'token id undefined at position 0 is missing'],
  ['forward(null)', () => forward(null), 'token ids must be an array of numbers, got null'],
  ['forward(5)', () => forward(5), 'token ids must be an array of numbers, got 5'],
  ['forward("abc")', () => forward('abc'), 'token ids must be an array of numbers, got "abc"'],
  ['forward([1], 5)', () => forward([1], 5), 'the forward options must be an object, got 5'],
  ['forward([1], { logits: 5 })', () => forward([1], { logits: 5 }), 'logits must be one of "none", "last", "all", got 5'],
  ['forward([1], { breakpoints: 5 })', () => forward([1], { breakpoints: 5 }), 'breakpoints (an array of layers, or "all") must be an array, got 5'],
  ['forward([1], { steer: 5 })', () => forward([1], { steer: 5 }), 'steer must be an array, got 5'],
  ['forward([1], { steer: [5] })', () => forward([1], { steer: [5] }), 'steer 0 must be an object { layer, scale?, add? }, got 5'],
  ['generate([1], 2, 5)', () => generate([1], 2, 5), 'the generate options must be an object, got 5'],
  ['generate([1], 2, { stopAt: 5 })', () => generate([1], 2, { stopAt: 5 }), 'stopAt must be an array, got 5'],
  ['generate([1], 2, { onToken: 5 })', () => generate([1], 2, { onToken: 5 }), 'onToken must be a function, got 5'],
  ['generate([1], "2")', () => generate([1], '2'), `maxNewTokens must be a whole number from 0 to 1024 (the model's positions), got "2"`],
  ['forwardBatch(5)', () => loose(model.forwardBatch.bind(model))(5), 'forwardBatch: items must be an array, got 5'],
  ['forwardBatch([{ session: 5, ids: [1] }])', () => loose(model.forwardBatch.bind(model))([{ session: 5, ids: [1] }]), 'forwardBatch: items[0].session must be a Session, got 5'],
  ['planTurns([5])', () => loose(model.planTurns.bind(model))([5]), 'planTurns: sessions[0] must be a Session, got 5'],
  ['scheduler(5)', () => loose(model.scheduler.bind(model))(5), 'the scheduler options must be an object, got 5'],
  ['scheduler().submit(5, [1], 1)', () => loose(model.scheduler().submit.bind(model.scheduler()))(5, [1], 1), 'submit: the first argument must be a Session of this model'],
  ['pagingEvents("x")', () => loose(model.pagingEvents.bind(model))('x'), 'pagingEvents: from must be a whole number from 0 to 9007199254740991, got "x"'],
  ['copyBandwidth({ direction: "toString" })', () => loose(rt.copyBandwidth.bind(rt))({ direction: 'toString', bytes: 1024 }), 'unknown copy direction "toString" (h2d, d2h, both or d2d)'],
];

describe('API arguments of the wrong type', () => {
  it.each(CASES)('%s', async (_, f, message) => {
    expect(await rejection(f)).toEqual(['VL_ERR_INVALID_ARGUMENT', message]);
  });

  it('leaves the runtime and the session usable', async () => {
    const logits = await session.forward([1, 2, 3]);
    expect(logits?.rows).toBe(1);
    expect(rt.memory().current).toBeGreaterThan(0);
  });
});

describe('device names at the C ABI (below the TypeScript check)', () => {
  it.each(['cuda', 'cuda:', 'cuda: 1', 'cuda:+1', 'cuda:-0', 'cuda:99999', 'cuda:1x'])('%s names no GPU', (device) => {
    let err: unknown = null;
    try {
      native.runtimeClose(native.runtimeOpen(device, { budget: 0, host_budget: 0 }));
    } catch (e) {
      err = e;
    }
    expect([(err as VramlabError).code, (err as VramlabError).message]).toEqual(['VL_ERR_INVALID_ARGUMENT', `device "${device}": expected cuda:N with N a GPU index`]);
  });
});
