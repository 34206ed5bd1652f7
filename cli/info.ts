// info.ts: `vramlab info MODEL`: a model's shape, dtypes, weights, KV cache and what a load would
// place where under the budget, without loading it (Runtime.describeModel: config.json and the
// safetensors headers, or the synthetic spec, and the native planner's own numbers). A model the
// budget cannot hold is described too, with a line saying by how much it does not fit.
import { VramlabError } from '../runtime/errors.js';
import { Runtime } from '../runtime/runtime.js';
import type { ModelDescription, ModelOptions, RuntimeOptions } from '../runtime/types.js';
import { formatSize } from '../runtime/units.js';

export const INFO_USAGE = `usage: vramlab info MODEL [--device cpu|cuda:N] [--budget SIZE] [--kv-pool-tokens N] [--placement P]
                    [--ring SIZE] [--prefetch N] [--json]
  the model's shape, dtypes, weights, KV bytes per token, and what a load would place where under the
  budget (layers resident, ring, KV pool tokens), read from config.json and the safetensors headers (or the
  synthetic spec) without loading the weights; a model that does not fit is described too, with a line
  saying by how much; exit status 0 when the model is described, whether or not it fits ("vram.fits" in
  --json), 1 for a bad MODEL or flag
  --json  {"device", "name", "shape": {vocabSize, hiddenSize, intermediateSize, numLayers, numHeads,
          numKvHeads, headDim, maxPositionEmbeddings, tieWordEmbeddings, dtype, rmsNormEps, ropeTheta},
          "parameters", "weights": {dtype, bytesPerElement, bytes, layerBytes}, "kv": {dtype,
          bytesPerElement, bytesPerToken, blockTokens, blockBytes, poolBlocks, poolTokens, poolBytes},
          "placement": {placement, residentLayers, streamedLayers, residentBytes, hostBytes, ringBytes,
          prefetch}, "vram": {budget, free, need, fits, short, workspaceBytes, maxStepTokens,
          activationDtype}} (sizes in bytes)`;

/** 824448 -> "824,448"; 68976648192 -> "68.98 B". */
function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  return n.toLocaleString('en-US');
}

function each(dtype: string, bytes: number): string {
  return `${dtype.toUpperCase()} (${bytes} bytes each)`;
}

function describeText(device: string, d: ModelDescription, budgetGiven: boolean): string[] {
  const s = d.shape;
  const p = d.placement;
  const v = d.vram;
  const streamed = p.streamedLayers > 0 ? `, ${p.streamedLayers} streamed from host memory (${formatSize(p.hostBytes)}) through a ${formatSize(p.ringBytes)} ring, prefetch ${p.prefetch}` : '';
  return [
    `model      ${d.name}`,
    `shape      ${s.numLayers} layers, hidden ${s.hiddenSize}, ffn ${s.intermediateSize}, ${s.numHeads} heads / ${s.numKvHeads} KV heads of ${s.headDim}, vocab ${s.vocabSize}, ${s.maxPositionEmbeddings} positions, rope theta ${s.ropeTheta}, rms eps ${s.rmsNormEps.toExponential()}${s.tieWordEmbeddings ? ', tied embeddings' : ''}`,
    `weights    ${formatCount(d.parameters)} parameters, ${each(d.weights.dtype, d.weights.bytesPerElement)}: ${formatSize(d.weights.bytes)}, ${formatSize(d.weights.layerBytes)} a layer`,
    `KV cache   ${each(d.kv.dtype, d.kv.bytesPerElement)}: ${formatSize(d.kv.bytesPerToken)} per token, ${formatSize(d.kv.blockBytes)} per ${d.kv.blockTokens}-token block`,
    `placement  ${p.placement}: ${p.residentLayers} of ${s.numLayers} layers resident (${formatSize(p.residentBytes)} in VRAM)${streamed}`,
    `KV pool    ${d.kv.poolTokens} tokens: ${d.kv.poolBlocks} blocks of ${d.kv.blockTokens}, ${formatSize(d.kv.poolBytes)}`,
    `VRAM       the load needs ${formatSize(v.need)}; ${formatSize(v.free)} of the ${formatSize(v.budget)} budget${budgetGiven ? '' : " (the device's memory)"} is free; a ${v.maxStepTokens}-token step adds ${formatSize(v.workspaceBytes)} of ${v.activationDtype.toUpperCase()} activations`,
    `device     ${device}`,
  ];
}

/** What does not fit and by how much; for a fixed placement, whether auto (some layers streamed) would. */
function shortfall(d: ModelDescription, auto: ModelDescription | null, budgetGiven: boolean): string {
  const p = d.placement;
  const what = `${p.placement} (${p.residentLayers} of ${d.shape.numLayers} layers resident${p.ringBytes ? `, a ${formatSize(p.ringBytes)} ring` : ''}, a ${d.kv.poolTokens}-token KV pool)`;
  let line = `does not fit: ${what} needs ${formatSize(d.vram.need)} of VRAM but ${formatSize(d.vram.free)} is free: ${formatSize(d.vram.short)} short`;
  const fixes = budgetGiven ? ['raise --budget'] : [];
  if (auto?.vram.fits) fixes.push(`--placement auto fits with ${auto.placement.residentLayers} of ${auto.shape.numLayers} layers resident`);
  if (fixes.length > 0) line += `; ${fixes.join(', or ')}`;
  if (auto && !auto.vram.fits) line += ` (--placement auto, every layer streamed, is ${formatSize(auto.vram.short)} short too)`;
  return line;
}

/** vramlab info MODEL: prints the description (text, or JSON with --json). */
export async function runInfo(modelArg: string | undefined, runtime: RuntimeOptions, options: ModelOptions, json: boolean): Promise<void> {
  if (!modelArg) throw new VramlabError('VL_ERR_USAGE', 'missing MODEL (a model directory or synthetic:<spec>) (see vramlab info --help)');
  const rt = await Runtime.open(runtime);
  try {
    const d = await rt.describeModel(modelArg, options);
    const device = rt.deviceName();
    if (json) {
      process.stdout.write(JSON.stringify({ device, ...d }) + '\n');
      return;
    }
    const lines = describeText(device, d, runtime.budget !== undefined);
    if (!d.vram.fits) {
      const auto = d.placement.placement === 'auto' ? null : await rt.describeModel(modelArg, { ...options, placement: 'auto' });
      lines.push(shortfall(d, auto, runtime.budget !== undefined));
    }
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    rt.dispose();
  }
}
