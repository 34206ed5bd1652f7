// load-progress.ts: Runtime.loadModel's onProgress. A load runs on a koffi worker thread; nothing calls
// back across threads: the runtime's native load counters (vl_runtime_load_progress) are polled on
// Node's thread every ~100 ms while the load runs, and what they read is passed on, never decreasing.
import { type Handle, native } from './native.js';

export interface LoadWatch {
  /** Stops the polling (the load has ended, one way or the other). */
  stop(): void;
  /** The load succeeded placing `bytes`: the last call, done === total. */
  finish(bytes: number): void;
  /** What the callback threw, if it did (polling stopped then). */
  readonly error: unknown;
}

/** Polls rt's load counters every `everyMs` until stop(), for `onProgress`; nothing without one. */
export function watchLoad(rt: Handle, onProgress: ((done: number, total: number) => void) | undefined, everyMs = 100): LoadWatch {
  let done = 0;
  let total = 0;
  let error: unknown = undefined;
  let timer: ReturnType<typeof setInterval> | null = null;
  const stop = () => {
    if (timer !== null) clearInterval(timer);
    timer = null;
  };
  const report = (d: number, t: number) => {
    // Only forward: 0 of 0 is no load placed yet (or already over); a smaller reading is another load's.
    if (t === 0 || d < done || t < total || (d === done && t === total) || onProgress === undefined || error !== undefined) return;
    done = d;
    total = t;
    try {
      onProgress(d, t);
    } catch (e) {
      error = e;
      stop();
    }
  };
  if (onProgress !== undefined) {
    timer = setInterval(() => {
      const p = native.runtimeLoadProgress(rt);
      report(p.done, p.total);
    }, everyMs);
    timer.unref();
  }
  return {
    stop,
    finish(bytes: number) {
      stop();
      const t = Math.max(bytes, total);
      report(t, t);
    },
    get error() {
      return error;
    },
  };
}
