// info.ts: `vramlab info MODEL`: a model's shape, dtypes, weights, KV cache and what a load would
// place where under the budget, without loading it (Runtime.describeModel: config.json and the
// safetensors headers, or the synthetic spec, and the native planner's own numbers), on this machine's
// device or, with --device-memory, on a device it need not have (Runtime.describeModelFor: that
// backend's dtypes and workspace, e.g. the CUDA backend's F16 KV cache from a machine without a GPU).
// A model the budget cannot hold is described too, with a line saying by how much it does not fit and
// what would make it fit.
import { usage } from './args.js';
import { suggest } from '../dsl/settings.js';
import { VramlabError } from '../runtime/errors.js';
import { Runtime } from '../runtime/runtime.js';
import type { ModelDescription, ModelOptions } from '../runtime/types.js';
import { formatSize, parseSize } from '../runtime/units.js';

/**
 * Cards --device-memory knows by name: their memory as nvidia-smi reports it (memory.total, MiB), what a
 * CUDA runtime there sees (its default budget is what is free of it, a little less: the CUDA context).
 */
const CARDS: Readonly<Record<string, number>> = {
  H100: 81559, // H100 80GB HBM3 (seen on the lent H100s)
  H200: 143771, // seen on the lent H200s
  'A100-80GB': 81920,
  'A100-40GB': 40960,
  L40S: 46068,
  L4: 23034,
  'RTX-4090': 24564,
  T4: 15360,
};

const cardKey = (name: string) => name.toLowerCase().replace(/[^a-z0-9]/g, '');

/** --device-memory: a known card's memory, or a size; its bytes and how to name it. */
export function deviceMemory(text: string): { bytes: number; label: string } {
  const card = Object.keys(CARDS).find((c) => cardKey(c) === cardKey(text));
  if (card !== undefined) return { bytes: (CARDS[card] as number) * 2 ** 20, label: `${card}, ${CARDS[card]} MiB` };
  let bytes: number | undefined;
  try {
    bytes = parseSize(text);
  } catch {
    // neither a card nor a size: said below
  }
  if (bytes === 0) throw usage(`--device-memory: "${text}" must be larger than 0`);
  if (bytes !== undefined) return { bytes, label: formatSize(bytes) };
  const sizes = Object.keys(CARDS).filter((c) => cardKey(c).startsWith(cardKey(text)) && cardKey(text) !== '');
  const hint = sizes.length > 0 ? ` (did you mean ${sizes.join(' or ')}?)` : suggest(text, Object.keys(CARDS));
  throw usage(`--device-memory: "${text}" is neither a size (e.g. 80GB) nor a card (${Object.keys(CARDS).join(', ')})${hint}`);
}

export const INFO_USAGE = `usage: vramlab info MODEL [--device cpu|cuda:N] [--device-memory SIZE|CARD] [--budget SIZE]
                    [--kv-pool-tokens N] [--placement P] [--ring SIZE] [--prefetch N] [--json]
  the model's shape, dtypes, weights, KV bytes per token, and what a load would place where under the
  budget (layers resident, ring, KV pool tokens), read from config.json and the safetensors headers (or the
  synthetic spec) without loading the weights; a model that does not fit is described too, with a line
  saying by how much and what would make it fit;
  exit status 0 when the model is described, whether or not it fits ("vram.fits" in --json), 1 for a bad
  MODEL or flag
  --device-memory SIZE|CARD
          plan for a --device this machine need not have, with that much memory (all free; the budget's
          default): what its backend would hold (cuda: the KV cache and activations in F16), nothing
          opened; CARD: ${Object.keys(CARDS).join(', ')} (nvidia-smi's memory.total)
  --json  {"device", "name", "shape": {vocabSize, hiddenSize, intermediateSize, numLayers, numHeads,
          numKvHeads, headDim, maxPositionEmbeddings, tieWordEmbeddings, dtype, rmsNormEps, ropeTheta},
          "parameters", "weights": {dtype, bytesPerElement, bytes, layerBytes}, "kv": {dtype,
          bytesPerElement, bytesPerToken, blockTokens, blockBytes, poolBlocks, poolTokens, poolBytes},
          "placement": {placement, residentLayers, streamedLayers, residentBytes, hostBytes, ringBytes,
          prefetch}, "vram": {budget, free, need, fits, short, workspaceBytes, maxStepTokens,
          activationDtype, fitKvPoolTokens}} (sizes in bytes; fitKvPoolTokens: the largest KV pool with
          which the rest and a 512-token step's activations fit, 0 when none does)`;

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

/**
 * What does not fit and by how much, and every lever that would make it fit: the budget (when one was
 * given), the device's memory (when planned), a smaller KV pool, and for a fixed placement auto (some
 * layers streamed).
 */
function shortfall(d: ModelDescription, auto: ModelDescription | null, target: Target): string {
  const p = d.placement;
  const what = `${p.placement} (${p.residentLayers} of ${d.shape.numLayers} layers resident${p.ringBytes ? `, a ${formatSize(p.ringBytes)} ring` : ''}, a ${d.kv.poolTokens}-token KV pool)`;
  let line = `does not fit: ${what} needs ${formatSize(d.vram.need)} of VRAM but ${formatSize(d.vram.free)} is free: ${formatSize(d.vram.short)} short`;
  const fixes = target.budget !== undefined ? ['raise --budget'] : target.memory !== undefined ? ['a device with more memory (--device-memory)'] : [];
  const pool = d.vram.fitKvPoolTokens;
  if (pool > 0 && pool < d.kv.poolTokens) fixes.push(`a KV pool of at most ${pool} tokens fits (--kv-pool-tokens ${pool})`);
  if (auto?.vram.fits) fixes.push(`--placement auto fits with ${auto.placement.residentLayers} of ${auto.shape.numLayers} layers resident`);
  if (fixes.length > 0) line += `; ${fixes.join(', or ')}`;
  if (auto && !auto.vram.fits) line += ` (--placement auto, every layer streamed, is ${formatSize(auto.vram.short)} short too)`;
  return line;
}

/** The device info describes for: this machine's (memory undefined), or one it need not have. */
export interface Target {
  device: string;
  budget?: string;
  /** --device-memory: a size or a card's name. */
  memory?: string;
}

/** A describer for the target, its device's name, and a way to let it go. */
async function describer(target: Target, model: string): Promise<{ describe: (o: ModelOptions) => Promise<ModelDescription>; device: string; close: () => void }> {
  if (target.memory !== undefined) {
    const memory = deviceMemory(target.memory);
    return {
      describe: (o) => Runtime.describeModelFor(model, { device: target.device, memory: memory.bytes, budget: target.budget }, o),
      device: `${target.device} with ${memory.label} of memory, planned (not opened)`,
      close: () => undefined,
    };
  }
  let rt: Runtime;
  try {
    rt = await Runtime.open({ device: target.device, budget: target.budget });
  } catch (e) {
    if (e instanceof VramlabError && e.code === 'VL_ERR_NO_DEVICE')
      throw new VramlabError(e.code, `${e.message}; to plan for it from here, give its memory: --device-memory 80GB, or a card (${Object.keys(CARDS).join(', ')})`);
    throw e;
  }
  return { describe: (o) => rt.describeModel(model, o), device: rt.deviceName(), close: () => rt.dispose() };
}

/** vramlab info MODEL: prints the description (text, or JSON with --json). */
export async function runInfo(modelArg: string | undefined, target: Target, options: ModelOptions, json: boolean): Promise<void> {
  if (!modelArg) throw new VramlabError('VL_ERR_USAGE', 'missing MODEL (a model directory or synthetic:<spec>) (see vramlab info --help)');
  const { describe, device, close } = await describer(target, modelArg);
  try {
    const d = await describe(options);
    if (json) {
      process.stdout.write(JSON.stringify({ device, ...d }) + '\n');
      return;
    }
    const lines = describeText(device, d, target.budget !== undefined);
    if (!d.vram.fits) {
      const auto = d.placement.placement === 'auto' ? null : await describe({ ...options, placement: 'auto' });
      lines.push(shortfall(d, auto, target));
    }
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    close();
  }
}
