// progress.ts: the progress bar of `vramlab run` and `vramlab generate` on a terminal (stderr),
// redrawn in place:
//
//   [##########..........]  12/24  streaming: stream ring=409600 run 1/2
//   [###.................]   5/32  tokens
//
// Not a terminal (a pipe, a CI log): nothing is drawn.
import type { RunProgress } from '../lab/runner.js';

export interface ProgressBar {
  update(p: Pick<RunProgress, 'done' | 'total' | 'label'>): void;
  /** Clears the bar's line. */
  end(): void;
}

export function progressBar(stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  if (!stream.isTTY) return { update() {}, end() {} };
  let drawn = false;
  return {
    update(p) {
      const width = 20;
      const filled = p.total > 0 ? Math.round((p.done / p.total) * width) : 0;
      const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(p.done).padStart(String(p.total).length)}/${p.total}  ${p.label}`;
      stream.write(`\r${line.slice(0, Math.max(10, (stream.columns ?? 80) - 1))}\x1b[K`);
      drawn = true;
    },
    end() {
      if (drawn) stream.write('\r\x1b[K');
      drawn = false;
    },
  };
}
