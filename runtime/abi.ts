// abi.ts: the structs of the C ABI (native/include/vramlab.h), declared once as plain data: native.ts
// registers each with koffi, and the TypeScript types of what it reads and writes are derived from
// them (StructOf), so that a field added to vramlab.h is added here and nowhere else.

/** vramlab.h's structs, field by field, in declaration order (nested structs by name, declared first). */
export const STRUCTS = {
  vl_runtime_options: { budget: 'uint64_t', host_budget: 'uint64_t' },
  vl_model_config: {
    vocab_size: 'int32_t',
    hidden_size: 'int32_t',
    intermediate_size: 'int32_t',
    num_layers: 'int32_t',
    num_heads: 'int32_t',
    num_kv_heads: 'int32_t',
    head_dim: 'int32_t',
    max_position_embeddings: 'int32_t',
    tie_word_embeddings: 'int32_t',
    dtype: 'int32_t',
    rms_norm_eps: 'float',
    rope_theta: 'float',
  },
  vl_model_options: {
    kv_block_tokens: 'int32_t',
    placement: 'int32_t',
    kv_pool_tokens: 'int64_t',
    prefetch: 'int32_t',
    paging: 'int32_t',
    ring_bytes: 'uint64_t',
  },
  vl_memory_info: {
    budget: 'uint64_t',
    current: 'uint64_t',
    peak: 'uint64_t',
    device_total: 'uint64_t',
    device_free: 'uint64_t',
    host_budget: 'uint64_t',
    host_current: 'uint64_t',
    host_peak: 'uint64_t',
  },
  vl_model_info: {
    config: 'vl_model_config',
    weight_bytes: 'uint64_t',
    kv_pool_bytes: 'uint64_t',
    kv_block_tokens: 'int32_t',
    kv_pool_blocks: 'int32_t',
    kv_free_blocks: 'int32_t',
    placement: 'int32_t',
    resident_layers: 'int32_t',
    prefetch: 'int32_t',
    resident_bytes: 'uint64_t',
    host_bytes: 'uint64_t',
    ring_bytes: 'uint64_t',
    layer_bytes: 'uint64_t',
    kv_block_bytes: 'uint64_t',
    paging: 'int32_t',
    kv_host_blocks: 'int32_t',
    sessions: 'int32_t',
    max_step_tokens: 'int32_t',
  },
  vl_model_description: {
    config: 'vl_model_config',
    placement: 'int32_t',
    resident_layers: 'int32_t',
    prefetch: 'int32_t',
    kv_block_tokens: 'int32_t',
    kv_pool_blocks: 'int32_t',
    kv_dtype: 'int32_t',
    activation_dtype: 'int32_t',
    max_step_tokens: 'int32_t',
    fits: 'int32_t',
    parameters: 'uint64_t',
    weight_bytes: 'uint64_t',
    resident_bytes: 'uint64_t',
    host_bytes: 'uint64_t',
    ring_bytes: 'uint64_t',
    layer_bytes: 'uint64_t',
    kv_token_bytes: 'uint64_t',
    kv_block_bytes: 'uint64_t',
    kv_pool_bytes: 'uint64_t',
    workspace_bytes: 'uint64_t',
    device_bytes: 'uint64_t',
    budget: 'uint64_t',
    free_bytes: 'uint64_t',
  },
  vl_step_stats: { tokens: 'int32_t', steps: 'int32_t', h2d_bytes: 'uint64_t', wall_ms: 'double', device_ms: 'double' },
  vl_layer_timing: { copy_start_ms: 'float', copy_end_ms: 'float', compute_start_ms: 'float', compute_end_ms: 'float' },
  vl_session_info: {
    n_tokens: 'int32_t',
    n_blocks: 'int32_t',
    id: 'int32_t',
    device_blocks: 'int32_t',
    host_blocks: 'int32_t',
    dropped_tokens: 'int32_t',
    quota: 'int32_t',
    running: 'int32_t',
    in_bytes: 'uint64_t',
    out_bytes: 'uint64_t',
    next_use: 'double',
  },
  vl_breakpoint_stats: {
    layer: 'int32_t',
    tokens: 'int32_t',
    hidden: 'int32_t',
    offloaded: 'int32_t',
    pauses: 'int32_t',
    pause_ms: 'double',
    restore_ms: 'double',
    to_logits_ms: 'double',
    gap_ms: 'double',
    d2h_bytes: 'uint64_t',
    h2d_bytes: 'uint64_t',
  },
  vl_paging_stats: {
    out_bytes: 'uint64_t',
    in_bytes: 'uint64_t',
    out_blocks: 'uint64_t',
    in_blocks: 'uint64_t',
    evictions: 'uint64_t',
    dropped_blocks: 'uint64_t',
    recomputed_tokens: 'uint64_t',
    prefetched_blocks: 'uint64_t',
    out_ms: 'double',
    in_ms: 'double',
    stall_ms: 'double',
    origin_ms: 'double',
  },
  vl_scheduler_options: { prefill_chunk: 'int32_t', max_batch: 'int32_t' },
  vl_schedule_step: {
    sessions: 'int32_t',
    decode_tokens: 'int32_t',
    prefill_tokens: 'int32_t',
    finished: 'int32_t',
    pending: 'int32_t',
    left_out: 'int32_t',
    wall_ms: 'double',
    device_ms: 'double',
  },
  vl_work_info: { active: 'int32_t', status: 'int32_t', prompt_tokens: 'int32_t', prefilled: 'int32_t', new_tokens: 'int32_t', tokens: 'int32_t' },
  vl_paging_event: {
    seq: 'uint64_t',
    t_ms: 'double',
    session: 'int32_t',
    kind: 'int32_t',
    reason: 'int32_t',
    blocks: 'int32_t',
    bytes: 'uint64_t',
    key: 'double',
    device_blocks: 'int32_t',
    host_blocks: 'int32_t',
    pool_used: 'int32_t',
    host_used: 'int32_t',
  },
} as const;

type Structs = typeof STRUCTS;
export type StructName = keyof Structs;
/** A struct as JavaScript sees it: numbers (64-bit fields too, exact up to 2^53) and nested structs. */
export type StructOf<K extends StructName> = { -readonly [F in keyof Structs[K]]: Structs[K][F] extends StructName ? StructOf<Structs[K][F]> : number };

export type NativeRuntimeOptions = StructOf<'vl_runtime_options'>;
export type NativeModelConfig = StructOf<'vl_model_config'>;
export type NativeModelOptions = StructOf<'vl_model_options'>;
export type NativeMemoryInfo = StructOf<'vl_memory_info'>;
export type NativeModelInfo = StructOf<'vl_model_info'>;
export type NativeModelDescription = StructOf<'vl_model_description'>;
export type NativeStepStats = StructOf<'vl_step_stats'>;
export type NativeLayerTiming = StructOf<'vl_layer_timing'>;
export type NativeSessionInfo = StructOf<'vl_session_info'>;
export type NativeBreakpointStats = StructOf<'vl_breakpoint_stats'>;
export type NativePagingStats = StructOf<'vl_paging_stats'>;
export type NativePagingEvent = StructOf<'vl_paging_event'>;
export type NativeScheduleStep = StructOf<'vl_schedule_step'>;
export type NativeWorkInfo = StructOf<'vl_work_info'>;

