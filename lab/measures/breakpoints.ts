// breakpoints.ts: the breakpoints measure (seed 003): a prefill pauses after `layer`, the edit is
// made, and the step goes on to the logits, one of three ways (the baseline):
//   resume     the held state: the residual stream after the layer and the KV stay on the device
//   recompute  the state is dropped (abort) and the tokens re-run up to the layer, the edit made again
//   offload    the pause moves the state to pinned host memory and frees it on the device; the resume
//              brings it back
// Each is timed from the paused state held (the device has reached the pause): resume_ms is the
// resume's own cost (host enqueue plus the device's restore; for recompute the abort and the re-run to
// the pause too), to_logits_ms the resume call to the logits on the host. The logits are checked
// against an uninterrupted pass with the same edit made by `steer` (none for replace).
//
// On request (metrics = [..., pause_overhead_ms, ...]) a resume run also measures what a pause costs
// an uninterrupted pass (breakpoints-overhead.ts): the experiment's evidence then has the worst depth's
// median of the paired differences (pause_overhead_ms) and the device gap a pause leaves
// (pause_gap_ms), which the benchmark's limit of 0.5 ms is checked against.
import { argmax, type Logits } from '../../runtime/logits.js';
import type { Placement } from '../../runtime/types.js';
import { applyEdit, describeEdit, editPlan, expectLogits, expectPaused, steerOf } from '../edits.js';
import { columnTitle } from '../columns.js';
import { type Figure, layout, measured, lines, missingNote, rowLabel, runsNote, swept } from '../figures.js';
import { promptIds } from '../inputs.js';
import { logAxis } from '../axes.js';
import type { Measure } from '../measure.js';
import { type EditPlan, type LoadPlan, type PromptPlan, promptTokens, type Step } from '../plan.js';
import type { ResultRow, Results } from '../results.js';
import { BASELINES_SETTING, checkStreamedOnly, EDIT_SETTINGS, MODEL_SETTINGS, PLACEMENT_SETTING, promptLength, type PromptValue } from '../settings.js';
import { relativeError } from '../stats.js';
import { OVERHEAD_EVIDENCE, OVERHEAD_METRICS, overheadRun, overheadSummary } from './breakpoints-overhead.js';

/** A prefill paused after `layer`, edited, resumed: from the held state, by recompute, or offloaded. */
export interface BreakpointStep extends Step {
  op: 'breakpoint';
  baseline: 'resume' | 'recompute' | 'offload';
  load: LoadPlan;
  prompt: PromptPlan;
  layer: number;
  edit: EditPlan | null;
}

const PARAMETERS = ['placement', 'prompt_tokens', 'edit'];

/** Why an activation(...) of `replace` tokens cannot patch a prompt of `prompt` tokens, or null when it can. */
function lengthMismatch(replace: number | null, prompt: number | null): [string, string] | null {
  if (replace === null || prompt === null || replace === prompt) return null;
  return [`activation(...) has ${replace} tokens, and the prompt has ${prompt}`, 'patching replaces the activation position by position: give prompts of the same length'];
}

/**
 * breakpoints: resume latency against the breakpoint's layer, one line per baseline; on a log axis
 * when the baselines are orders of magnitude apart.
 */
export function resumeFigure(r: Results): Figure {
  const fields = swept(r.rows, PARAMETERS);
  const { data, ps, missing, xaxis } = lines(r.rows, (row) => rowLabel(row, String(row['baseline']), fields), 'layer', 'resume_ms', 'ms');
  const pause = r.pause_overhead_ms;
  const gap = r.pause_gap_ms;
  const positive = ps.map((p) => p.median).filter((m) => m > 0);
  const log = positive.length === ps.length && Math.max(...positive) / Math.min(...positive) > 100;
  return {
    data,
    layout: layout('Resume latency against breakpoint depth', r, {
      xaxis,
      yaxis: log ? { title: { text: `${columnTitle('resume_ms')}, log scale` }, ...logAxis(ps.flatMap((p) => [p.min, p.max])) } : { title: { text: columnTitle('resume_ms') }, rangemode: 'tozero' },
    }, [typeof pause === 'number' ? `pause overhead ${pause.toFixed(3)} ms` : '', typeof gap === 'number' ? `device gap per pause ${gap.toFixed(3)} ms` : '', runsNote(ps), missingNote(missing)]),
  };
}

export const breakpoints: Measure<BreakpointStep> = {
  name: 'breakpoints',
  doc: 'a prefill pauses after `layer`, the edit is made, and it finishes: from the held state, by dropping it and re-running the tokens to the breakpoint, or with the state offloaded to host memory at the pause; checked against an uninterrupted pass with the same edit',
  settings: {
    ...MODEL_SETTINGS,
    baselines: BASELINES_SETTING,
    placement: PLACEMENT_SETTING,
    ...EDIT_SETTINGS,
    replace: { kind: { type: 'activation' }, doc: "edit: replace the activation with activation(PROMPT), another prompt's of the same length", sweep: false },
  },
  baselines: ['resume', 'recompute', 'offload'],
  metrics: ['resume_ms', 'to_logits_ms', 'pause_ms', 'bytes_moved', 'logit_rel_err', 'token_match'],
  onRequest: ['output_change', ...OVERHEAD_METRICS],
  check: 'logits after pause, edit and resume against an uninterrupted pass with the same edit (relative L2 error)',
  rowFields: { baseline: 'string', layer: 'number' },
  parameters: PARAMETERS,
  evidence: OVERHEAD_EVIDENCE,

  validate(s, report) {
    checkStreamedOnly(s, report);
    if (!s.has('replace')) return;
    if (s.has('scale') || s.has('add')) report('replace', 'unsupported', 'replace cannot be combined with scale or add', 'replace sets the whole activation: remove scale and add, or replace');
    const have = s.values('replace').map((v) => promptLength(v as PromptValue))[0] ?? null;
    for (const p of s.values('prompt')) {
      const bad = lengthMismatch(have, promptLength(p as PromptValue));
      if (bad) return report('replace', 'reference', ...bad);
    }
  },

  compile(c) {
    const prompt = c.prompt();
    const edit = editPlan(c, 'replace');
    const bad = edit?.replace ? lengthMismatch(promptTokens(edit.replace), promptTokens(prompt)) : null;
    if (bad) {
      c.error('replace', 'reference', ...bad);
      return [];
    }
    // Two sessions: the paused one and, for replace, the one whose activation is taken.
    const load = c.load(c.string('placement') as Placement, promptTokens(prompt), 2);
    return c.baselines.map((b) => ({ op: 'breakpoint', baseline: b as BreakpointStep['baseline'], load, prompt, layer: c.number('layer'), edit, point: c.point }));
  },

  params(s) {
    return { baseline: s.baseline, layer: s.layer, placement: s.load.placement, prompt_tokens: promptTokens(s.prompt), edit: describeEdit(s.edit) };
  },

  async *run(s, c) {
    const { model } = await c.model(s.load);
    const ids = promptIds(s.prompt, model.shape.vocabSize);
    const refKey = JSON.stringify(['breakpoint', s.point, s.prompt, s.layer, s.edit]);
    const plainKey = JSON.stringify(['plain', s.prompt]);
    const session = model.createSession();
    try {
      const whole = async (steer: ReturnType<typeof steerOf>): Promise<Float32Array> => {
        session.reset();
        return ((steer ? await session.forward(ids, { steer: [steer] }) : await session.forward(ids)) as Logits).data.slice();
      };
      if (!c.memo.has(refKey) && !s.edit?.replace) c.memo.set(refKey, await whole(steerOf(s.layer, s.edit, model.shape.hiddenSize)));
      if (c.wants('output_change') && !c.memo.has(plainKey)) c.memo.set(plainKey, await whole(null));
      const overhead: ResultRow = s.baseline === 'resume' && OVERHEAD_METRICS.some((m) => c.wants(m)) ? await overheadRun(session, ids, s.layer, c) : {};

      session.reset();
      let p = expectPaused(await session.forward(ids, { breakpoints: [s.layer], offload: s.baseline === 'offload' }));
      await applyEdit(p, s.edit, model, c.memo);
      p.stats(); // waits for the device to reach the pause: the resume is timed from the held state
      yield { paused: p, session };
      let backMs = 0;
      if (s.baseline === 'recompute') {
        const t0 = performance.now();
        p.abort();
        p = expectPaused(await session.forward(ids, { breakpoints: [s.layer] }));
        await applyEdit(p, s.edit, model, c.memo);
        p.stats(); // the re-run has reached the pause
        backMs = performance.now() - t0;
      }
      const out = expectLogits(await p.resume());
      const st = p.stats();
      const ref = c.memo.get(refKey);
      const err = ref instanceof Float32Array ? relativeError(out.data, ref) : null;
      c.compared(err);
      const plain = c.memo.get(plainKey);
      return {
        resume_ms: backMs + st.restoreMs,
        to_logits_ms: backMs + st.toLogitsMs,
        pause_ms: st.pauseMs,
        bytes_moved: st.bytesMoved,
        logit_rel_err: err,
        token_match: ref instanceof Float32Array ? argmax(out.data) === argmax(ref) : null,
        output_change: plain instanceof Float32Array ? relativeError(out.data, plain) : null,
        ...overhead,
      };
    } finally {
      session.dispose();
    }
  },

  summarize(result) {
    const summary = overheadSummary(result.rows);
    if (summary) Object.assign(result, summary);
  },

  figures(r, note) {
    return measured(r, 'resume_ms', 'Resume latency against breakpoint depth', note) ? [resumeFigure(r)] : [];
  },
};

