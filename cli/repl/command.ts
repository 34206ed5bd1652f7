// command.ts: what a REPL command is (commands.ts and plan-commands.ts hold them) and what it runs with.
import type { ReplState } from './state.js';

export interface CommandContext {
  state: ReplState;
  print(line: string): void;
}

export interface Command {
  name: string;
  aliases?: string[];
  usage: string;
  help: string;
  /** What its arguments complete to (completion.ts). */
  completes?: 'layers' | 'files' | 'sessions' | 'save';
  /** What Ctrl-C does while it runs (the REPL says so); without it, it runs to its end. */
  interrupt?: string;
  /** `rest` is the text after the command word, untouched (run "text"). */
  run(args: string[], ctx: CommandContext, rest: string): Promise<void> | void;
}
