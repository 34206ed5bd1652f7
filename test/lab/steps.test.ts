// runSteps: the run as an async iterator. Rows come as they are measured; with `pauses`, a step that
// stops at a breakpoint is handed over paused (its activation readable, its edit made), and continuing
// the iteration resumes it; leaving the iteration at a pause frees the session and the runtime.
import { describe, expect, it } from 'vitest';
import { buildPlan } from '../../lab/build.js';
import type { BreakpointStep } from '../../lab/measures/breakpoints.js';
import { type RunEvent, runPlan, runSteps } from '../../lab/runner.js';
import { modelValue } from '../../lab/settings.js';
import { VramlabError } from '../../runtime/errors.js';

const TOKENS = 8;
const HIDDEN = 128; // synthetic:tiny

/** Breakpoints after layers 1 and 2 of the tiny shape, scaled by 0.9, each baseline once. */
function breakpointsPlan(extra: Record<string, number> = {}) {
  return buildPlan([
    {
      name: 'bp',
      measure: 'breakpoints',
      settings: { model: modelValue('synthetic:tiny'), prompt: { tokens: TOKENS }, scale: 0.9, repeat: 1, warmup: 0, ...extra },
      sweeps: [{ name: 'layer', values: [1, 2] }],
    },
  ]);
}

async function collect(events: AsyncGenerator<RunEvent, unknown, void>, atPause?: (e: Extract<RunEvent, { kind: 'paused' }>) => void): Promise<RunEvent[]> {
  const out: RunEvent[] = [];
  for await (const e of events) {
    out.push(e);
    if (e.kind === 'paused') atPause?.(e);
  }
  return out;
}

describe('runSteps', () => {
  it('yields the experiment, a pause before each measured row, and the end; the paused state is readable there', async () => {
    const activations: number[] = [];
    const events = await collect(runSteps(breakpointsPlan(), { pauses: true }), (e) => {
      expect(e.paused.layer).toBe((e.step as BreakpointStep).layer);
      expect(e.session.paused).toBe(e.paused);
      expect(e.measured).toBe(true);
      activations.push(e.paused.activation().length);
    });
    const kinds = events.map((e) => (e.kind === 'row' ? `row ${e.row['baseline']} ${e.row['layer']}` : e.kind === 'paused' ? `paused ${e.step.baseline}` : e.kind));
    expect(kinds).toEqual([
      'experiment',
      ...[1, 2].flatMap((l) => ['resume', 'recompute', 'offload'].flatMap((b) => [`paused ${b}`, `row ${b} ${l}`])),
      'end',
    ]);
    expect(activations).toEqual(Array(6).fill(TOKENS * HIDDEN));
    const end = events.at(-1) as Extract<RunEvent, { kind: 'end' }>;
    expect(end.result.rows).toHaveLength(6);
    expect(end.result.check).toMatchObject({ pass: true });
    // Each run's session is freed once its row is in.
    for (const e of events) if (e.kind === 'paused') expect(e.session.disposed).toBe(true);
  });

  it('continuing resumes the step as it was left at the pause: an edit made there changes the logits', async () => {
    const events = await collect(runSteps(breakpointsPlan(), { pauses: true }), (e) => {
      if (e.step.baseline === 'resume' && (e.step as BreakpointStep).layer === 2) e.paused.scale(3);
    });
    const rows = events.flatMap((e) => (e.kind === 'row' ? [e.row] : []));
    const err = (b: string, l: number) => rows.find((r) => r['baseline'] === b && r['layer'] === l)!['logit_rel_err'] as number;
    expect(err('resume', 2)).toBeGreaterThan(1e-2); // against an uninterrupted pass scaled by 0.9 only
    expect(err('resume', 1)).toBeLessThan(1e-5);
    expect(err('offload', 2)).toBeLessThan(1e-5);
    const end = events.at(-1) as Extract<RunEvent, { kind: 'end' }>;
    expect(end.result.check).toMatchObject({ pass: false });
  });

  it('leaving the iteration at a pause frees the paused step, its session and the runtime', async () => {
    const steps = runSteps(breakpointsPlan(), { pauses: true });
    let e = (await steps.next()).value as RunEvent;
    while (e.kind !== 'paused') e = (await steps.next()).value as RunEvent;
    const { paused, session } = e;
    expect(paused.activation().length).toBe(TOKENS * HIDDEN);
    const done = await steps.return(undefined as never);
    expect(done.done).toBe(true);
    expect(session.disposed).toBe(true);
    expect(() => paused.activation()).toThrow(VramlabError);
    expect(session.model.disposed).toBe(true); // with its runtime
  });

  it('without pauses it yields rows only, and runPlan gives the same rows', async () => {
    const events = await collect(runSteps(breakpointsPlan()));
    expect(events.filter((e) => e.kind === 'paused')).toEqual([]);
    const rows = events.flatMap((e) => (e.kind === 'row' ? [`${e.row['baseline']} ${e.row['layer']} ${e.row['status']}`] : []));
    const viaPlan = (await runPlan(breakpointsPlan())).experiments[0]!.rows.map((r) => `${r['baseline']} ${r['layer']} ${r['status']}`);
    expect(rows).toEqual(viaPlan);
    expect(rows).toHaveLength(6);
  });

  it('steering pauses too: the pause, edit and resume its check compares against', async () => {
    const plan = buildPlan([{ name: 's', measure: 'steering', settings: { model: modelValue('synthetic:tiny'), prompt: { tokens: TOKENS }, layer: 1, scale: 0.5, new_tokens: 3, repeat: 1, warmup: 1 } }]);
    const pauses: boolean[] = [];
    const events = await collect(runSteps(plan, { pauses: true }), (e) => pauses.push(e.measured));
    expect(pauses).toEqual([false, true]); // the warm-up pauses as well
    expect(events.filter((e) => e.kind === 'row')).toHaveLength(1);
  });
});
