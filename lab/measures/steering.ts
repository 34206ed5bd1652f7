// steering.ts: the steering measure (seed 003): greedy decoding with the output of `layer` edited at
// every step (forward's `steer`), against the same without: how much the first logits move, whether
// the top token changes, how many generated tokens agree. Checked against the same edit made by
// pausing the prefill after the layer, editing and resuming.
import { argmax, type Logits } from '../../runtime/logits.js';
import type { Model } from '../../runtime/runtime.js';
import type { Placement, Steer } from '../../runtime/types.js';
import { applyEdit, describeEdit, editPlan, expectLogits, expectPaused, steerOf } from '../edits.js';
import { columnTitle } from '../columns.js';
import { type Figure, layout, measured, lines, missingNote, rowLabel, runsNote, swept } from '../figures.js';
import { promptIds } from '../inputs.js';
import type { Measure } from '../measure.js';
import { type EditPlan, type LoadPlan, type PromptPlan, promptTokens, type Step } from '../plan.js';
import type { Results } from '../results.js';
import { checkStreamedOnly, EDIT_SETTINGS, MODEL_SETTINGS, NEW_TOKENS_SETTING, PLACEMENT_SETTING } from '../settings.js';
import { mean, relativeError } from '../stats.js';

/** Greedy decoding with the output of `layer` edited at every step, against the unedited run. */
export interface SteerStep extends Step {
  op: 'steer';
  load: LoadPlan;
  prompt: PromptPlan;
  newTokens: number;
  layer: number;
  edit: EditPlan;
}

const PARAMETERS = ['placement', 'prompt_tokens', 'new_tokens', 'edit'];

/** Greedy tokens and the first logits of a prompt, with `steer` at every step or without. */
async function generate(model: Model, ids: number[], newTokens: number, steer: Steer | null, checkpoint: () => void): Promise<{ first: Float32Array; tokens: number[]; stepsMs: number[] }> {
  const session = model.createSession();
  const opts = steer ? { steer: [steer] } : {};
  try {
    let logits = (await session.forward(ids, opts)) as Logits;
    const first = logits.data.slice();
    const tokens = [logits.argmax()];
    const stepsMs: number[] = [];
    for (let t = 1; t < newTokens; t++) {
      checkpoint();
      const t0 = performance.now();
      logits = (await session.forward([tokens[tokens.length - 1] as number], opts)) as Logits;
      stepsMs.push(performance.now() - t0);
      tokens.push(logits.argmax());
    }
    return { first, tokens, stepsMs };
  } finally {
    session.dispose();
  }
}

/**
 * steering: how much the output changes (relative change of the logits) against the scale the layer's
 * output was multiplied by, one line per layer; or, when the scale was not swept, against the layer,
 * one line per edit.
 */
export function steeringFigure(r: Results): Figure {
  const fields = swept(r.rows, PARAMETERS).filter((f) => f !== 'edit');
  const byScale = swept(r.rows, ['scale']).length > 0;
  const { data, ps, missing, xaxis } = byScale
    ? lines(r.rows, (row) => rowLabel(row, `layer ${String(row['layer'])}`, fields), 'scale', 'output_change', '')
    : lines(r.rows, (row) => rowLabel(row, String(row['edit'] ?? 'edit'), fields), 'layer', 'output_change', '');
  return {
    data,
    layout: layout(`Output change against the steering ${byScale ? 'scale' : 'layer'}`, r, {
      xaxis,
      yaxis: { title: { text: columnTitle('output_change') }, rangemode: 'tozero' },
    }, [runsNote(ps), missingNote(missing)]),
  };
}

export const steering: Measure<SteerStep> = {
  name: 'steering',
  doc: "greedy decoding with `layer`'s output edited at every step, against the same without; checked against the same edit made by pause, edit and resume",
  settings: { ...MODEL_SETTINGS, placement: PLACEMENT_SETTING, new_tokens: NEW_TOKENS_SETTING, ...EDIT_SETTINGS },
  baselines: [],
  metrics: ['output_change', 'top1_changed', 'token_agreement', 'per_token_ms', 'logit_rel_err'],
  check: 'steered logits through forward({ steer }) against pause, edit and resume (relative L2 error)',
  rowFields: { layer: 'number' },
  parameters: PARAMETERS,

  validate(s, report) {
    checkStreamedOnly(s, report);
    if (!s.has('scale') && !s.has('add')) report(null, 'missing', `experiment ${s.experiment} (measure steering) has no edit`, 'add scale = 0.9 and/or add = random(norm = 4)');
  },

  compile(c) {
    const edit = editPlan(c);
    if (!edit) return [];
    const prompt = c.prompt();
    const newTokens = c.number('new_tokens');
    return [{ op: 'steer', load: c.load(c.string('placement') as Placement, promptTokens(prompt) + newTokens, 1), prompt, newTokens, layer: c.number('layer'), edit, point: c.point }];
  },

  params(s) {
    return { layer: s.layer, scale: s.edit.scale ?? null, edit: describeEdit(s.edit), placement: s.load.placement, prompt_tokens: promptTokens(s.prompt), new_tokens: s.newTokens };
  },

  async *run(s, c) {
    const { model } = await c.model(s.load);
    const ids = promptIds(s.prompt, model.shape.vocabSize);
    const steer = steerOf(s.layer, s.edit, model.shape.hiddenSize) as Steer;
    const checkpoint = () => c.checkpoint();
    const plainKey = JSON.stringify(['plain', s.prompt, s.newTokens]);
    const plain = (c.memo.get(plainKey) as Awaited<ReturnType<typeof generate>> | undefined) ?? (await generate(model, ids, s.newTokens, null, checkpoint));
    c.memo.set(plainKey, plain);
    const steered = await generate(model, ids, s.newTokens, steer, checkpoint);
    const session = model.createSession();
    let viaPause: Float32Array;
    try {
      const p = expectPaused(await session.forward(ids, { breakpoints: [s.layer] }));
      await applyEdit(p, s.edit, model, c.memo);
      yield { paused: p, session };
      viaPause = expectLogits(await p.resume()).data;
    } finally {
      session.dispose();
    }
    const err = relativeError(steered.first, viaPause);
    c.compared(err);
    const agree = steered.tokens.filter((t, i) => t === plain.tokens[i]).length;
    return {
      output_change: relativeError(steered.first, plain.first),
      top1_changed: argmax(steered.first) !== argmax(plain.first),
      token_agreement: steered.tokens.length > 0 ? agree / steered.tokens.length : null,
      per_token_ms: mean(steered.stepsMs),
      logit_rel_err: err,
    };
  },

  figures(r, note) {
    return measured(r, 'output_change', 'Output change against the steering edit', note, 'the edit changed no logit') ? [steeringFigure(r)] : [];
  },
};
