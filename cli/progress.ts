// progress.ts: the progress bar of `vramlab run` and `vramlab generate` on a terminal (stderr),
// redrawn in place; with `timed` (run), the time since the start and an estimate of what is left,
// redrawn every second while a long step (a load, a run) goes on:
//
//   [##########..........]  12/24  1m05s, about 1m05s left  streaming: stream ring=409600 run 1/2
//   [###.................]   5/32  tokens
//
// Not a terminal (a pipe, a CI log): nothing is drawn.
import type { RunProgress } from '../lab/runner.js';

export interface ProgressBar {
  update(p: Pick<RunProgress, 'done' | 'total' | 'label'>): void;
  /** Clears the bar's line. */
  end(): void;
}

export interface ProgressOptions {
  /** Elapsed time and an estimate of what is left (from the pace so far), redrawn every second. */
  timed?: boolean;
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
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(p.done).padStart(String(p.total).length)}/${p.total}${time}  ${p.label}`;
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
