// describe.ts: the native library's model structs in their typed forms: a shape to and from
// vl_model_config (a Model's shape, a synthetic spec's config), and a vl_model_description (what
// vl_model_describe planned without loading) as the ModelDescription that Runtime.describeModel returns.
import type { NativeModelConfig, NativeModelDescription } from './native.js';
import type { DType, ModelShape } from './synthetic.js';
import { type ModelDescription, PLACEMENTS } from './types.js';

/** vl_dtype's order. */
const DTYPES: readonly DType[] = ['f32', 'f16', 'bf16'];
const DTYPE_BYTES: Readonly<Record<DType, number>> = { f32: 4, f16: 2, bf16: 2 };

/** A float32 of the ABI as the decimal it was written as (1e-5, not 0.000009999999747378752). */
function fromFloat32(x: number): number {
  return Number(x.toPrecision(7));
}

function dtypeOf(index: number): DType {
  return DTYPES[index] ?? 'f16';
}

export function shapeOf(c: NativeModelConfig): ModelShape {
  return {
    vocabSize: c.vocab_size,
    hiddenSize: c.hidden_size,
    intermediateSize: c.intermediate_size,
    numLayers: c.num_layers,
    numHeads: c.num_heads,
    numKvHeads: c.num_kv_heads,
    headDim: c.head_dim,
    maxPositionEmbeddings: c.max_position_embeddings,
    tieWordEmbeddings: c.tie_word_embeddings !== 0,
    dtype: dtypeOf(c.dtype),
    rmsNormEps: fromFloat32(c.rms_norm_eps),
    ropeTheta: fromFloat32(c.rope_theta),
  };
}

export function nativeConfig(s: ModelShape): NativeModelConfig {
  return {
    vocab_size: s.vocabSize,
    hidden_size: s.hiddenSize,
    intermediate_size: s.intermediateSize,
    num_layers: s.numLayers,
    num_heads: s.numHeads,
    num_kv_heads: s.numKvHeads,
    head_dim: s.headDim,
    max_position_embeddings: s.maxPositionEmbeddings,
    tie_word_embeddings: s.tieWordEmbeddings ? 1 : 0,
    dtype: DTYPES.indexOf(s.dtype),
    rms_norm_eps: s.rmsNormEps,
    rope_theta: s.ropeTheta,
  };
}

export function descriptionOf(name: string, d: NativeModelDescription): ModelDescription {
  const shape = shapeOf(d.config);
  const kvDtype = dtypeOf(d.kv_dtype);
  return {
    name,
    shape,
    parameters: d.parameters,
    weights: { dtype: shape.dtype, bytesPerElement: DTYPE_BYTES[shape.dtype], bytes: d.weight_bytes, layerBytes: d.layer_bytes },
    kv: {
      dtype: kvDtype,
      bytesPerElement: DTYPE_BYTES[kvDtype],
      bytesPerToken: d.kv_token_bytes,
      blockTokens: d.kv_block_tokens,
      blockBytes: d.kv_block_bytes,
      poolBlocks: d.kv_pool_blocks,
      poolTokens: d.kv_pool_blocks * d.kv_block_tokens,
      poolBytes: d.kv_pool_bytes,
    },
    placement: {
      placement: PLACEMENTS[d.placement] ?? 'resident',
      residentLayers: d.resident_layers,
      streamedLayers: shape.numLayers - d.resident_layers,
      residentBytes: d.resident_bytes,
      hostBytes: d.host_bytes,
      ringBytes: d.ring_bytes,
      prefetch: d.prefetch,
    },
    vram: {
      budget: d.budget,
      free: d.free_bytes,
      need: d.device_bytes,
      fits: d.fits !== 0,
      short: d.fits !== 0 ? 0 : d.device_bytes - d.free_bytes,
      workspaceBytes: d.workspace_bytes,
      maxStepTokens: d.max_step_tokens,
      activationDtype: dtypeOf(d.activation_dtype),
      fitKvPoolTokens: d.fit_kv_pool_tokens,
    },
  };
}
