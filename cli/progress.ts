// progress.ts: the progress bar of `vramlab run`, `vramlab generate` and a model's load on a terminal
// (stderr), redrawn in place; with `timed` (run, loads), the time since the start and an estimate of
// what is left, redrawn every second while a long step (a load, a run) goes on:
//
//   [##########..........]  12/24  1m05s, about 1m05s left  streaming: stream ring=409600 run 1/2
//   [###.................]   5/32  tokens
//   [######..............] 3.20 GiB / 12.55 GiB  4s, about 12s left  loading llama-7b
//
// Not a terminal (a pipe, a CI log): nothing is drawn.
import type { RunProgress } from '../lab/runner.js';
import { formatSize } from '../runtime/units.js';

export interface ProgressBar {
  update(p: Pick<RunProgress, 'done' | 'total' | 'label'>): void;
  /** Clears the bar's line. */
  end(): void;
}

export interface ProgressOptions {
  /** Elapsed time and an estimate of what is left (from the pace so far), redrawn every second. */
  timed?: boolean;
  /** How the count reads (default "  5/32"; bytes: "3.20 GiB / 12.55 GiB"). */
  count?: (done: number, total: number) => string;
  /** Milliseconds, for tests. */
  now?: () => number;
}

/** 5400 -> "5s", 65000 -> "1m05s", 3720000 -> "1h02m". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

type WriteStream = Pick<NodeJS.WriteStream, 'isTTY' | 'columns' | 'write'>;

export function progressBar(stream: WriteStream = process.stderr, options: ProgressOptions = {}): ProgressBar {
  if (!stream.isTTY) return { update() {}, end() {} };
  const now = options.now ?? (() => performance.now());
  const start = now();
  let last: Pick<RunProgress, 'done' | 'total' | 'label'> | null = null;
  let timer: ReturnType<typeof setInterval> | null = null;
  const draw = () => {
    if (!last) return;
    const p = last;
    const width = 20;
    const filled = p.total > 0 ? Math.round((p.done / p.total) * width) : 0;
    let time = '';
    if (options.timed) {
      const elapsed = now() - start;
      const left = p.done > 0 && p.done < p.total ? `, about ${formatDuration((elapsed / p.done) * (p.total - p.done))} left` : '';
      time = `  ${formatDuration(elapsed)}${left}`;
    }
    const count = options.count ? options.count(p.done, p.total) : `${String(p.done).padStart(String(p.total).length)}/${p.total}`;
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${count}${time}  ${p.label}`;
    // A terminal of unknown width (a pty without a size says 0 columns) is taken as 80 wide.
    stream.write(`\r${line.slice(0, Math.max(10, (stream.columns || 80) - 1))}\x1b[K`);
  };
  return {
    update(p) {
      last = { done: p.done, total: p.total, label: p.label };
      draw();
      if (options.timed && !timer) {
        timer = setInterval(draw, 1000);
        timer.unref();
      }
    },
    end() {
      if (timer) clearInterval(timer);
      timer = null;
      if (last) stream.write('\r\x1b[K');
      last = null;
    },
  };
}

/** "3.20 GiB / 12.55 GiB": a count of bytes. */
export function bytesCount(done: number, total: number): string {
  return `${formatSize(done)} / ${formatSize(total)}`;
}

/** A model's name as a loading bar shows it: a directory's last component, or the synthetic spec. */
export function modelLabel(source: string): string {
  return source.startsWith('synthetic:') ? source : (source.replace(/\/+$/, '').split('/').pop() ?? source);
}

export interface LoadingBar {
  /** Runtime.loadModel's onProgress. */
  onProgress(done: number, total: number): void;
  /** Clears the bar (call it in finally: the load may fail). */
  end(): void;
}

/**
 * The bar of a model's load on a terminal's stderr: "loading NAME" with the bytes placed and in all,
 * the time so far and what is left; nothing when stderr is not a terminal.
 */
export function loadingBar(source: string, stream: WriteStream = process.stderr, options: ProgressOptions = {}): LoadingBar {
  const bar = progressBar(stream, { timed: true, count: bytesCount, ...options });
  const label = `loading ${modelLabel(source)}`;
  return { onProgress: (done, total) => bar.update({ done, total, label }), end: () => bar.end() };
}
