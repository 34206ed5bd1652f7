// plan-commands.ts: a .vlab plan stepped through in the REPL. open compiles it for the REPL's device;
// next runs it on to its next pause (a breakpoints or steering run holding its step paused: stats,
// lens, edits work on it as on a step of the REPL's own), finish runs it to its end past its pauses,
// close drops it; results shows its rows, a table per experiment as `vramlab run` prints it. The plan
// runs in a runtime of its own (lab/runner.ts), beside the REPL's model.
import { compileSource, readVlabFile } from '../../dsl/index.js';
import { counted } from '../../lab/columns.js';
import type { LoadPlan, Step } from '../../lab/plan.js';
import { runSteps } from '../../lab/runner.js';
import { VramlabError } from '../../runtime/errors.js';
import { resultsTable } from '../results-table.js';
import type { Command, CommandContext } from './command.js';
import { formatRow } from './format.js';
import { newSlot, type PlanCursor, type ReplState, usage } from './state.js';

/** What Ctrl-C does to a running plan. */
const STOPS_PLAN = 'the plan stops at its next row or pause (next or finish goes on)';

function needPlan(state: ReplState): PlanCursor {
  if (!state.plan) throw new VramlabError('VL_ERR_STATE', 'no plan open: open FILE.vlab first');
  return state.plan;
}

/** The model directory of a plan's step (for its tokenizer), null for a synthetic model or none. */
function stepModelDir(step: Step): string | null {
  const model = (step['load'] as Partial<LoadPlan> | undefined)?.model;
  return typeof model === 'string' && !model.startsWith('synthetic:') ? model : null;
}

/**
 * Runs the open plan on to its next pause (with `pauses`; without, past them) or its end, printing
 * what it passes; Ctrl-C stops it at the next row or pause.
 */
export async function runPlan(ctx: CommandContext, pauses: boolean): Promise<void> {
  const { state } = ctx;
  const plan = needPlan(state);
  if (plan.done) throw new VramlabError('VL_ERR_STATE', `the plan of ${plan.file} has run to its end (results shows its rows; close drops it)`);
  plan.slot = null;
  let passed = 0;
  for (;;) {
    const r = await plan.events.next();
    if (r.done) {
      plan.done = true;
      ctx.print(`plan done: ${counted(plan.rows.length, 'row')}${passed ? `, ${counted(passed, 'pause')} passed` : ''}${r.value.cancelled ? ' (cancelled)' : ''}`);
      return;
    }
    const e = r.value;
    if (e.kind === 'row') {
      plan.rows.push({ experiment: e.experiment, row: e.row });
      ctx.print(`row ${plan.rows.length}: ${e.experiment}: ${formatRow(e.row)}`);
    } else if (e.kind === 'experiment') {
      ctx.print(`experiment ${e.result.experiment}`);
    } else if (e.kind === 'paused' && pauses) {
      plan.slot = newSlot(e.session, stepModelDir(e.step));
      plan.slot.paused = e.paused;
      ctx.print(`${e.experiment}: ${e.step.op}${e.step.baseline ? ` ${e.step.baseline}` : ''} ${e.measured ? `run ${e.run}` : 'warm-up'} paused after layer ${e.paused.layer} (${e.paused.tokens} tokens): inspect it, next to go on`);
      return;
    } else if (e.kind === 'paused') {
      passed++;
    }
    if (state.interrupted) {
      ctx.print(`interrupted: ${counted(plan.rows.length, 'row')} so far (next or finish goes on)`);
      return;
    }
  }
}

export const PLAN_COMMANDS: Command[] = [
  {
    name: 'open',
    usage: 'open FILE.vlab',
    help: 'compile a .vlab file for this device; next runs its plan step by step, pausing at its breakpoints',
    completes: 'files',
    async run(args, ctx) {
      const file = args[0];
      if (!file) throw usage('usage: open FILE.vlab');
      const text = readVlabFile(file);
      const plan = compileSource(text, { file, device: ctx.state.device });
      await ctx.state.closePlan();
      const metrics = new Map(plan.experiments.map((e) => [e.name, e.metrics]));
      ctx.state.plan = { file, events: runSteps(plan, { pauses: true }), metrics, rows: [], done: false, slot: null };
      ctx.print(`opened ${file}: ${plan.experiments.length} experiment(s), ${plan.experiments.reduce((a, e) => a + e.steps.length, 0)} steps; next to run to its first pause`);
    },
  },
  { name: 'next', usage: 'next', help: 'run the open plan on to its next pause (or its end)', interrupt: STOPS_PLAN, run: (_a, ctx) => runPlan(ctx, true) },
  { name: 'finish', aliases: ['run-to-end'], usage: 'finish', help: 'run the open plan to its end, past its pauses', interrupt: STOPS_PLAN, run: (_a, ctx) => runPlan(ctx, false) },
  {
    name: 'close',
    usage: 'close',
    help: 'drop the open plan (the steps it has not run do not run)',
    async run(_a, ctx) {
      const plan = needPlan(ctx.state);
      await ctx.state.closePlan();
      ctx.print(`closed ${plan.file} after ${counted(plan.rows.length, 'row')}${plan.done ? '' : ' (it had not run to its end)'}`);
    },
  },
  {
    name: 'results',
    usage: 'results',
    help: "the open plan's rows so far: a table per experiment, a line per configuration (its runs averaged)",
    run(_a, ctx) {
      const plan = needPlan(ctx.state);
      if (plan.rows.length === 0) ctx.print('no rows yet');
      const experiments = [...new Set(plan.rows.map((r) => r.experiment))];
      for (const name of experiments) {
        const rows = plan.rows.filter((r) => r.experiment === name).map((r) => r.row);
        ctx.print(`${name}: ${counted(rows.length, 'row')}`);
        for (const line of resultsTable({ rows }, plan.metrics.get(name) ?? []).trimEnd().split('\n')) ctx.print(`  ${line}`);
      }
    },
  },
];
