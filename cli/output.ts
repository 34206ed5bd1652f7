// output.ts: the command's stdout and stderr when writing to them fails, installed once at the entry
// (vramlab.ts) for every command. A reader that goes away early (`vramlab logits --json | head -c 20`:
// EPIPE) ends the command quietly, with status 141 (128 + SIGPIPE, what a shell reports for a tool a
// closed pipe stopped), as head expects. Any other write error (ENOSPC: `> /dev/full`, a full disk) is
// one line on stderr and status 1. A command with results still to write (`vramlab run`) takes the
// break itself (whenOutputBreaks): it stops after its step and writes them.
import { fileErrorReason } from '../runtime/files.js';

let onBreak: (() => void) | null = null;
let silent = false;

/**
 * While `handler` is set, a stdout that fails calls it, once, instead of ending the process, and every
 * later write error is let go; null gives the default back for a stdout that has not failed.
 */
export function whenOutputBreaks(handler: (() => void) | null): void {
  onBreak = handler;
}

/** From now on stdout's write errors are let go (the terminal is gone: SIGHUP). */
export function silenceOutput(): void {
  silent = true;
}

export function guardOutput(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (silent) return;
    if (onBreak) {
      silent = true;
      onBreak();
      return;
    }
    if (e.code === 'EPIPE') process.exit(141);
    process.stderr.write(`vramlab: cannot write the output to stdout (${fileErrorReason(e)})\n`);
    process.exit(1);
  });
  // stderr's own failures (2>&- or 2>/dev/full) are let go: the output and the status do not depend
  // on the diagnostics reaching anyone, and nothing is left to report them on.
  process.stderr.on('error', () => {});
}
