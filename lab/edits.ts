// edits.ts: what the breakpoints and steering measures do to a paused step: the edit of a plan
// (scale, add, replace) made on a Paused or given to forward's `steer`, its one-line description for
// rows, and checks that a step paused (or finished) where it should have.
import { Paused } from '../runtime/breakpoint.js';
import { VramlabError } from '../runtime/errors.js';
import type { Logits } from '../runtime/logits.js';
import type { Model } from '../runtime/runtime.js';
import type { Steer } from '../runtime/types.js';
import { addVector, promptIds } from './inputs.js';
import type { CompileContext } from './measure.js';
import type { EditPlan, PromptPlan } from './plan.js';

/** The step's result as a Paused; an internal error when it ran through its breakpoint. */
export function expectPaused(r: Logits | Paused): Paused {
  if (!(r instanceof Paused)) throw new VramlabError('VL_ERR_INTERNAL', 'the step did not pause at its breakpoint');
  return r;
}

/** The step's result as Logits; an internal error when it paused again. */
export function expectLogits(r: Logits | Paused): Logits {
  if (r instanceof Paused) throw new VramlabError('VL_ERR_INTERNAL', `the step paused again after layer ${r.layer}`);
  return r;
}

/** "scale 0.9, add random(norm 4, seed 1)" */
export function describeEdit(e: EditPlan | null): string | null {
  if (!e) return null;
  const parts: string[] = [];
  if (e.scale !== undefined) parts.push(`scale ${e.scale}`);
  if (e.add) parts.push('norm' in e.add ? `add random(norm ${e.add.norm}, seed ${e.add.seed})` : `add a vector of ${e.add.values.length}`);
  if (e.replace) parts.push(`replace with the activation of ${'tokens' in e.replace ? `${e.replace.tokens} tokens (seed ${e.replace.seed})` : (e.replace.text ?? `ids ${e.replace.ids.join(' ')}`)}`);
  return parts.join(', ');
}

/** The steer entry of an edit (scale and add; replace has none), or null when it has neither. */
export function steerOf(layer: number, e: EditPlan | null, hidden: number): Steer | null {
  if (!e || (e.scale === undefined && !e.add)) return null;
  const steer: Steer = { layer };
  if (e.scale !== undefined) steer.scale = e.scale;
  if (e.add) steer.add = addVector(e.add, hidden);
  return steer;
}

/** The activation of a prompt after `layer`, taken once per model, prompt and layer (kept in `memo`). */
async function activationOf(model: Model, prompt: PromptPlan, layer: number, memo: Map<string, unknown>): Promise<Float32Array> {
  const key = JSON.stringify(['activation', model.name, prompt, layer]);
  const held = memo.get(key);
  if (held instanceof Float32Array) return held;
  const session = model.createSession();
  try {
    const p = expectPaused(await session.forward(promptIds(prompt, model.shape.vocabSize), { breakpoints: [layer] }));
    const a = p.activation().slice();
    p.abort();
    memo.set(key, a);
    return a;
  } finally {
    session.dispose();
  }
}

/** Makes an edit on a paused step, in the order replace, scale, add (x * scale + add). */
export async function applyEdit(p: Paused, edit: EditPlan | null, model: Model, memo: Map<string, unknown>): Promise<void> {
  if (!edit) return;
  if (edit.replace) p.setActivation(await activationOf(model, edit.replace, p.layer, memo));
  if (edit.scale !== undefined) p.scale(edit.scale);
  if (edit.add) p.add(addVector(edit.add, model.shape.hiddenSize));
}

/** The edit a sweep point's settings describe (scale, add, and replace for a measure that has it), or null for none. */
export function editPlan(c: CompileContext, replaceSetting?: 'replace'): EditPlan | null {
  const edit: EditPlan = {};
  const scale = c.optionalNumber('scale');
  const add = c.optionalAdd('add');
  const replace = replaceSetting ? c.optionalPrompt(replaceSetting) : undefined;
  if (scale !== undefined) edit.scale = scale;
  if (add) edit.add = add;
  if (replace) edit.replace = replace;
  return Object.keys(edit).length > 0 ? edit : null;
}
