/* vramlab.h: the one C ABI of libvramlab.
 *
 * Conventions
 *  - Opaque handles; functions are named vl_<object>_<verb>.
 *  - Every call returns a status: VL_OK (0) or a negative vl_status. The library never aborts or
 *    exits: CUDA errors, out-of-memory and bad files all come back as statuses.
 *  - vl_last_error() holds the message of the last failing call on the calling thread. Calls that
 *    callers run on worker threads (model loads, forward passes, batched steps) take a vl_error *err
 *    as their last parameter and write their status and message there: each call carries its own
 *    error, so concurrent failing calls never read each other's messages (a field on the handle,
 *    read after the worker returned, gave 188 of 400 concurrent bad loads the other load's message).
 *  - Sizes are bytes; token ids are int32; logits are float32, row-major (rows, vocab).
 */
#ifndef VRAMLAB_H
#define VRAMLAB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define VL_API __declspec(dllexport)
#else
#define VL_API __attribute__((visibility("default")))
#endif

#define VL_ABI_VERSION 11

typedef enum vl_status {
  VL_OK = 0,
  VL_ERR_INVALID_ARGUMENT = -1, /* a bad argument: null handle, token id outside the vocabulary, ... */
  VL_ERR_IO = -2,               /* a file cannot be opened or read */
  VL_ERR_FORMAT = -3,           /* a model file is malformed or disagrees with its config */
  VL_ERR_UNSUPPORTED = -4,      /* valid input this build cannot run (architecture, dtype, ...) */
  VL_ERR_OUT_OF_MEMORY = -5,    /* the VRAM budget, the KV pool or the device ran out */
  VL_ERR_DEVICE = -6,           /* the device failed (a CUDA or cuBLAS call) */
  VL_ERR_NO_DEVICE = -7,        /* the requested device or backend does not exist here */
  VL_ERR_STATE = -8,            /* a call in the wrong state (busy session, disposed handle, ...) */
  VL_ERR_INTERNAL = -9,         /* a bug in vramlab: please report it */
  VL_ERR_NUMERIC = -10          /* a pass produced a NaN or an infinity (the message says where first) */
} vl_status;

typedef enum vl_dtype { VL_F32 = 0, VL_F16 = 1, VL_BF16 = 2 } vl_dtype;

typedef struct vl_runtime vl_runtime;
typedef struct vl_model vl_model;
typedef struct vl_session vl_session;

/* The Llama-family shape of a model. */
typedef struct vl_model_config {
  int32_t vocab_size;
  int32_t hidden_size;
  int32_t intermediate_size;
  int32_t num_layers;
  int32_t num_heads;
  int32_t num_kv_heads;
  int32_t head_dim;
  int32_t max_position_embeddings;
  int32_t tie_word_embeddings; /* 0 or 1 */
  int32_t dtype;               /* vl_dtype of the weights */
  float rms_norm_eps;
  float rope_theta;
} vl_model_config;

/* Where a model's layers live. Streamed layers stay in host memory and flow through a ring buffer
 * in VRAM; the embedding, the final norm and the LM head are always resident. */
typedef enum vl_placement {
  VL_PLACE_RESIDENT = 0,    /* every layer in VRAM */
  VL_PLACE_STREAM = 1,      /* pinned host memory -> ring, copies prefetched on the copy stream */
  VL_PLACE_STREAM_SYNC = 2, /* the same ring, each copy waiting for the previous layer's compute */
  VL_PLACE_ACCELERATE = 3,  /* pageable host memory, synchronous per-tensor copies (as HF Accelerate) */
  VL_PLACE_AUTO = 4         /* the first K layers resident, the rest streamed; K from the budget */
} vl_placement;

/* How a model's KV pager makes room when a step needs KV blocks the device pool lacks (see
 * native/src/kv_pager.h): it pages out blocks of sessions that are not running to pinned host memory. */
typedef enum vl_paging_policy {
  VL_PAGING_LRU = 0,       /* the least recently run sessions first */
  VL_PAGING_NEXT_USE = 1,  /* the sessions whose next turn (vl_session_set_next_use) is furthest away; the next
                              session is prefetched while the current one computes */
  VL_PAGING_RECOMPUTE = 2, /* drop the KV instead, and re-run the tokens when the session returns */
  VL_PAGING_NONE = 3       /* never: a step that does not fit fails with VL_ERR_OUT_OF_MEMORY */
} vl_paging_policy;

typedef struct vl_runtime_options {
  uint64_t budget;      /* the VRAM budget; 0 = the device's free memory (the machine's RAM for the CPU) */
  uint64_t host_budget; /* pinned host memory for KV pages; 0 = half the machine's RAM */
} vl_runtime_options;

typedef struct vl_model_options {
  int32_t kv_block_tokens; /* tokens per KV block; 0 = 16 */
  int32_t placement;       /* vl_placement */
  int64_t kv_pool_tokens;  /* device KV pool capacity in tokens, over all sessions; 0 = what the budget leaves after the
                              weights, the ring and a 2048-token step's workspace when the runtime was given a budget,
                              else max_position_embeddings capped at 4096 */
  int32_t prefetch;        /* stream: layers copied ahead of the one computing; 0 = 1 */
  int32_t paging;          /* vl_paging_policy */
  uint64_t ring_bytes;     /* ring capacity; 0 = two layers */
} vl_model_options;

/* What a copy-bandwidth probe times. */
typedef enum vl_copy_direction {
  VL_COPY_H2D = 0,  /* host to device */
  VL_COPY_D2H = 1,  /* device to host */
  VL_COPY_BOTH = 2, /* both at once, on two streams: the bytes of both over the time of the pair */
  VL_COPY_D2D = 3   /* device to device: bytes read plus bytes written over the time (the memory's bandwidth) */
} vl_copy_direction;

typedef struct vl_memory_info {
  uint64_t budget;       /* the VRAM budget of the runtime */
  uint64_t current;      /* bytes allocated now under the budget */
  uint64_t peak;         /* the high-water mark of current */
  uint64_t device_total; /* the device's own memory (physical RAM for the CPU backend) */
  uint64_t device_free;  /* free on the device as the device reports it */
  uint64_t host_budget;  /* pinned host memory the KV pagers may take */
  uint64_t host_current; /* pinned host memory they hold now (their host block stores) */
  uint64_t host_peak;    /* the high-water mark of host_current */
} vl_memory_info;

typedef struct vl_model_info {
  vl_model_config config;
  uint64_t weight_bytes;   /* bytes of all weights */
  uint64_t kv_pool_bytes;  /* bytes of the KV block pool */
  int32_t kv_block_tokens;
  int32_t kv_pool_blocks;
  int32_t kv_free_blocks;
  int32_t placement;        /* vl_placement */
  int32_t resident_layers;  /* layers [0, resident_layers) in VRAM, the rest streamed */
  int32_t prefetch;
  uint64_t resident_bytes;  /* weights in VRAM */
  uint64_t host_bytes;      /* weights in host memory (streamed layers) */
  uint64_t ring_bytes;      /* the ring's capacity, 0 when nothing is streamed */
  uint64_t layer_bytes;     /* one layer's weights */
  uint64_t kv_block_bytes;  /* one KV block (all layers) */
  int32_t paging;           /* vl_paging_policy */
  int32_t kv_host_blocks;   /* KV blocks in the host block store now, all sessions */
  int32_t sessions;         /* live sessions */
  int32_t max_step_tokens;  /* steps up to this long always find their workspace */
} vl_model_info;

/* A model as a load on a runtime would place it now, decided without loading it (vl_model_describe):
 * the numbers are the loader's own. */
typedef struct vl_model_description {
  vl_model_config config;   /* the shape; dtype: the weights' (config.json's, else the embedding's header) */
  int32_t placement;        /* vl_placement asked for */
  int32_t resident_layers;  /* layers [0, resident_layers) in VRAM, the rest streamed */
  int32_t prefetch;
  int32_t kv_block_tokens;
  int32_t kv_pool_blocks;
  int32_t kv_dtype;         /* vl_dtype of the KV cache on this device */
  int32_t activation_dtype; /* vl_dtype the device computes activations in */
  int32_t max_step_tokens;  /* steps up to this long always find their workspace */
  int32_t fits;             /* 1 when device_bytes fit in what the budget has free now, else 0 */
  uint64_t parameters;      /* weight elements */
  uint64_t weight_bytes;    /* bytes of all weights, each tensor 256-byte aligned */
  uint64_t resident_bytes;  /* weights in VRAM */
  uint64_t host_bytes;      /* weights in host memory (streamed layers) */
  uint64_t ring_bytes;      /* the ring's capacity, 0 when nothing is streamed */
  uint64_t layer_bytes;     /* one layer's weights */
  uint64_t kv_token_bytes;  /* KV cache of one position, every layer */
  uint64_t kv_block_bytes;  /* one KV block (all layers) */
  uint64_t kv_pool_bytes;   /* the device KV pool */
  uint64_t workspace_bytes; /* activations of a max_step_tokens step (allocated at the first step) */
  uint64_t device_bytes;    /* VRAM the load allocates: resident weights, ring, KV pool, rotary frequencies */
  uint64_t budget;          /* the runtime's VRAM budget */
  uint64_t free_bytes;      /* of it, free now */
  int64_t fit_kv_pool_tokens; /* the largest KV pool (whole blocks) with which the rest and a 512-token
                                 step's workspace fit what is free; 0 when not one block does */
} vl_model_description;

/* What the last step (forward call, or the whole of a generate call) did. */
typedef struct vl_step_stats {
  int32_t tokens;     /* tokens run */
  int32_t steps;      /* forward passes (a generate call runs several) */
  uint64_t h2d_bytes; /* weight bytes copied host -> device (streamed layers) */
  double wall_ms;     /* host wall time of the passes */
  double device_ms;   /* device time from the first pass's start to the last one's logits on the host; a
                         paused step's waits for its resumes left out (its segments' device time); -1
                         before any step */
} vl_step_stats;

/* One layer of the last pass: milliseconds from the start of its device work; -1 where the layer
 * had no copy. A pass replayed from a graph has no timeline (n_layers 0). */
typedef struct vl_layer_timing {
  float copy_start_ms;
  float copy_end_ms;
  float compute_start_ms;
  float compute_end_ms;
} vl_layer_timing;

typedef struct vl_session_info {
  int32_t n_tokens;       /* tokens held in the session's KV cache */
  int32_t n_blocks;       /* KV blocks the session holds, on the device or paged out */
  int32_t id;             /* the model's n-th session (from 0): how the paging records name it */
  int32_t device_blocks;  /* its blocks on the device */
  int32_t host_blocks;    /* its blocks paged out to host memory */
  int32_t dropped_tokens; /* tokens whose KV was dropped (recompute) and is re-run at its next step */
  int32_t quota;          /* at most this many device blocks; 0 = no limit */
  int32_t running;        /* 1 while a step of it runs */
  uint64_t in_bytes;      /* KV bytes paged in for it */
  uint64_t out_bytes;     /* KV bytes paged out */
  double next_use;        /* its next-use key, or -1 */
} vl_session_info;

/* What a model's pager did. */
typedef struct vl_paging_stats {
  uint64_t out_bytes, in_bytes;   /* KV bytes paged device -> host, host -> device */
  uint64_t out_blocks, in_blocks;
  uint64_t evictions;             /* victim choices (each page-out or drop of a session) */
  uint64_t dropped_blocks;        /* recompute: blocks dropped */
  uint64_t recomputed_tokens;     /* recompute: tokens re-run */
  uint64_t prefetched_blocks;     /* next-use: blocks paged in ahead of their step */
  double out_ms, in_ms;           /* the copies' own device time (copies known to be complete) */
  double stall_ms;                /* the compute stream waiting for pages (device time) */
  double origin_ms;               /* the records' t_ms origin on the steady clock (CLOCK_MONOTONIC), ms */
  double host_alloc_ms;           /* host time pinning the host block store (reserved or grown on demand) */
} vl_paging_stats;

/* The scheduler of a model's batched steps (vl_model_step). */
typedef struct vl_scheduler_options {
  int32_t prefill_chunk; /* prompt tokens per step, all sessions together; 0 = 256 */
  int32_t max_batch;     /* sessions per step; 0 = 256 */
} vl_scheduler_options;

/* What one vl_model_step did. */
typedef struct vl_schedule_step {
  int32_t sessions;       /* in the batch */
  int32_t decode_tokens;  /* one per decoding session */
  int32_t prefill_tokens; /* prompt chunk tokens */
  int32_t finished;       /* work items that ended in it (done, or failed: vl_sessions_work says why) */
  int32_t pending;        /* work items still active after it */
  int32_t left_out;       /* sessions with work it did not take (busy, paused, out of memory: tried again) */
  double wall_ms;         /* host time of the step */
  double device_ms;       /* device time of the step, -1 when none ran */
  int64_t step;           /* its number among the steps that ran a batch (the last one's when it ran none) */
} vl_schedule_step;

/* A session's submitted work (vl_session_submit). */
typedef struct vl_work_info {
  int32_t active;         /* 1 until it is done, failed or cancelled */
  int32_t status;         /* VL_OK, or why it failed (vl_session_work_error has the message) */
  int32_t prompt_tokens;  /* submitted to prefill */
  int32_t prefilled;      /* of them, run so far */
  int32_t new_tokens;     /* asked for */
  int32_t tokens;         /* picked so far */
  int64_t step;           /* the step (vl_schedule_step.step) that last changed it, 0 before any: a reader
                           * that starts the next step before reading the last one's results can tell */
} vl_work_info;

/* One paging record: what moved, for which session, and the rule that chose it. */
typedef enum vl_page_kind { VL_PAGE_OUT = 0, VL_PAGE_IN = 1, VL_PAGE_DROP = 2, VL_PAGE_RUN = 3 } vl_page_kind;
typedef enum vl_page_reason {
  VL_REASON_STEP = 0,     /* in: the step's own blocks; run: a step started */
  VL_REASON_LRU = 1,      /* out or drop: the least recently run session */
  VL_REASON_NEXT_USE = 2, /* out: the session whose next turn is furthest away */
  VL_REASON_PREFETCH = 3, /* in: the next session, while the current one computes */
  VL_REASON_EXPLICIT = 4, /* vl_session_page_out / _page_in */
  VL_REASON_OFFLOAD = 5   /* out: a breakpoint pause with offload */
} vl_page_reason;
typedef struct vl_paging_event {
  uint64_t seq;           /* from 1 */
  double t_ms;            /* host milliseconds since the model was loaded */
  int32_t session;        /* vl_session_info.id */
  int32_t kind;           /* vl_page_kind */
  int32_t reason;         /* vl_page_reason */
  int32_t blocks;         /* blocks moved or dropped (run: the session's blocks) */
  uint64_t bytes;         /* bytes copied */
  double key;             /* the policy's value for the session (lru: its last use; next-use: its key); run: tokens */
  int32_t device_blocks;  /* the session's blocks on the device after it */
  int32_t host_blocks;    /* and on the host */
  int32_t pool_used;      /* device KV blocks in use, all sessions, after it */
  int32_t host_used;      /* host slots in use after it */
} vl_paging_event;

/* A session's breakpoints: the step paused now, or else the last step that had breakpoints. A pause
 * returns as soon as its save is enqueued, before the device has got there; the device times below
 * are read when the step settles: vl_session_breakpoint_stats waits for that. */
typedef struct vl_breakpoint_stats {
  int32_t layer;        /* the step is paused after this layer; -1 when the session is not paused */
  int32_t tokens;       /* the step's positions: rows of the activation */
  int32_t hidden;       /* columns of the activation */
  int32_t offloaded;    /* 1 while the paused state is in host memory */
  int32_t pauses;       /* pauses of the step so far */
  double pause_ms;      /* the last pause: breakpoint layer done -> paused state saved (device time) */
  double restore_ms;    /* the last resume's own cost: host time from the call to its device work enqueued, plus
                           the device time of the restore (residual, KV, metadata back, the edit applied) */
  double to_logits_ms;  /* the resume that finished the step: call -> logits on the host */
  double gap_ms;        /* the last resume: breakpoint layer done -> state restored, the next layer ready to run
                           (device time): what the pause and resume added to the device's stream of layers,
                           saving and restoring included; -1 when another step ran on the model while paused
                           (the events were reused) or before any resume */
  uint64_t d2h_bytes;   /* activation and KV bytes moved device -> host (offload, activation reads) */
  uint64_t h2d_bytes;   /* host -> device (offload, activation writes, added vectors); weights not counted */
} vl_breakpoint_stats;

/* Errors */
/* The error of one call (see Conventions): status VL_OK or the failure, message NUL-terminated
 * (truncated to fit). err may be NULL: the message is then only in vl_last_error(). */
typedef struct vl_error {
  int32_t status;
  char message[1020];
} vl_error;
VL_API const char *vl_last_error(void);
VL_API const char *vl_status_name(int32_t status);
VL_API int32_t vl_abi_version(void);

/* Runtime: one device, one VRAM budget and one host budget. device: "cpu" or "cuda:N"; options may be
 * NULL (the defaults). */
VL_API int32_t vl_runtime_open(const char *device, const vl_runtime_options *options, vl_runtime **out);
VL_API int32_t vl_runtime_close(vl_runtime *rt);
VL_API int32_t vl_runtime_memory(vl_runtime *rt, vl_memory_info *out);
/* Writes the device's name (NUL-terminated, truncated to cap) into buf. */
VL_API int32_t vl_runtime_device_name(vl_runtime *rt, char *buf, int32_t cap);
/* Measures copy bandwidth in GB/s: `bytes` copied `reps` times between device memory and pinned
 * (pinned != 0) or pageable host memory, host to device on the Copy stream, device to host on the Offload
 * stream, or both at once (vl_copy_direction), timed with events. The device buffers count against the
 * budget while they live. */
VL_API int32_t vl_runtime_copy_bandwidth(vl_runtime *rt, uint64_t bytes, int32_t pinned, int32_t reps, int32_t direction,
                                         double *gbps, vl_error *err);

/* The progress of the model loads running on rt (vl_model_load, vl_model_synthetic) on other threads:
 * the weight bytes placed so far (read from the files or generated, and copied to where they live) and
 * the bytes they place in all, summed over the loads that overlap; *done <= *total, both 0 while no load
 * runs (and *total 0 until a load has placed its model). Callable from any thread while loads run: it
 * reads two atomic counters (poll it; nothing calls back). done or total NULL: VL_ERR_INVALID_ARGUMENT. */
VL_API int32_t vl_runtime_load_progress(vl_runtime *rt, uint64_t *done, uint64_t *total);

/* Models. vl_model_load takes a HuggingFace model directory (config.json + model.safetensors or a
 * sharded set with model.safetensors.index.json). vl_model_synthetic fills the shape with seeded
 * random weights generated in memory. options may be NULL. */
VL_API int32_t vl_model_load(vl_runtime *rt, const char *dir, const vl_model_options *options, vl_model **out,
                             vl_error *err);
VL_API int32_t vl_model_synthetic(vl_runtime *rt, const vl_model_config *config, uint64_t seed,
                                  const vl_model_options *options, vl_model **out, vl_error *err);
/* Describes a model without loading it: vl_model_describe reads dir's config.json and safetensors headers
 * (checked as vl_model_load checks them; no tensor data is read), vl_model_describe_synthetic takes the
 * shape; both run the placement vl_model_load and vl_model_synthetic would run on rt now with options
 * (may be NULL), and allocate nothing. A model too large for the budget is described (fits 0); options a
 * load rejects fail the same way. */
VL_API int32_t vl_model_describe(vl_runtime *rt, const char *dir, const vl_model_options *options,
                                 vl_model_description *out, vl_error *err);
VL_API int32_t vl_model_describe_synthetic(vl_runtime *rt, const vl_model_config *config, const vl_model_options *options,
                                           vl_model_description *out, vl_error *err);
/* The same for a device that this machine need not have: device ("cpu", "cuda" or "cuda:N") names the
 * backend whose dtypes the plan uses (its KV cache, its activations), nothing is opened; device_memory
 * is its memory in bytes, all free, and budget the VRAM budget (0: device_memory). Give dir (a model
 * directory) or config (a synthetic shape), not both. */
VL_API int32_t vl_model_describe_for(const char *device, uint64_t device_memory, uint64_t budget, const char *dir,
                                     const vl_model_config *config, const vl_model_options *options,
                                     vl_model_description *out, vl_error *err);
VL_API int32_t vl_model_info_get(vl_model *m, vl_model_info *out);
VL_API int32_t vl_model_free(vl_model *m);

/* Paging. A step runs only when every KV block of its session is on the device: the model's pager
 * brings them back and makes room as its policy says (vl_paging_policy). */
VL_API int32_t vl_model_set_paging(vl_model *m, int32_t policy);
VL_API int32_t vl_model_paging_stats(vl_model *m, vl_paging_stats *out);
/* Grows the model's host block store (pinned, under the host budget) to hold at least `bytes` of KV
 * blocks now, so that paging later does not wait for pinned allocations (pinning runs at a few GB/s).
 * *ms receives the time it spent pinning (0 when the store held that much), *store_bytes what the
 * store holds after. VL_ERR_OUT_OF_MEMORY, nothing allocated, when the host budget cannot hold it. */
VL_API int32_t vl_model_reserve_host(vl_model *m, uint64_t bytes, double *ms, uint64_t *store_bytes, vl_error *err);
/* Copies the model's resident weights onto the device again from a pinned host copy of them (made at
 * the first call, host_bytes of pinned memory outside the host budget): a serverless system's load at
 * every step, at best. *ms receives the copy's device time, *bytes its size. */
VL_API int32_t vl_model_reload(vl_model *m, double *ms, uint64_t *bytes, vl_error *err);

/* Batched steps. Sessions submit work; each vl_model_step runs one forward over every runnable
 * session: one decode token of each decoding session and prompt chunks (at most prefill_chunk tokens a
 * step) of those prefilling, one read of the weights, attention through each session's own block
 * table. A session paused at a breakpoint, or busy in another call, is left out of that step. */
VL_API int32_t vl_model_set_scheduler(vl_model *m, const vl_scheduler_options *options);
VL_API int32_t vl_model_step(vl_model *m, vl_schedule_step *out, vl_error *err);
/* Records the CUDA graphs of decode steps of 1 to max_batch sessions now (a server's start-up), so that
 * no step records one later; *recorded: how many (0 on a backend without graphs). Between steps. */
VL_API int32_t vl_model_prepare_scheduler(vl_model *m, int32_t max_batch, int32_t *recorded, vl_error *err);
/* One batched forward by hand: session i appends counts[i] ids (taken in order from ids) and its last
 * position's logits go to logits + i * vocab. A session that cannot run (out of memory, paused, a
 * non-finite result) is left out: errors[i] says why (status VL_OK when it ran). out: the step's stats
 * (steps = 1); err: the error of the whole call. */
VL_API int32_t vl_model_forward_batch(vl_model *m, vl_session *const *sessions, int32_t n, const int32_t *counts,
                                      const int32_t *ids, float *logits, vl_error *errors, vl_step_stats *out,
                                      vl_error *err);
/* Copies records [first, first + cap) of the model's paging records into out; *n receives how many were
 * copied, *total how many there are. */
VL_API int32_t vl_model_paging_events(vl_model *m, uint64_t first, vl_paging_event *out, int32_t cap, int32_t *n,
                                      uint64_t *total);

/* Sessions: one sequence with its own KV block table. */
VL_API int32_t vl_session_create(vl_model *m, vl_session **out);
VL_API int32_t vl_session_free(vl_session *s);
VL_API int32_t vl_session_info_get(vl_session *s, vl_session_info *out);
/* Drops the session's tokens and returns its KV blocks to the pool. */
VL_API int32_t vl_session_reset(vl_session *s);
/* Appends n tokens and runs them (a prefill, or a decode step when n == 1). logits_rows is 0 (no
 * logits), 1 (the last position) or n (every position); logits receives logits_rows * vocab floats.
 * A pass whose logits (with logits_rows 0: its last position's hidden state) hold a NaN or an infinity
 * fails with VL_ERR_NUMERIC, the message naming where the first one appeared (the embeddings, a decoder
 * layer, the final norm, the output head) and at which position; the session is as before the call.
 * The same holds for generate (any of its steps), a resume and each session of a batched step. */
VL_API int32_t vl_session_forward(vl_session *s, const int32_t *ids, int32_t n, int32_t logits_rows, float *logits,
                                  vl_error *err);
/* Greedy generation: appends ids (n >= 1) and runs them, then decodes max_new tokens, each the
 * argmax of the previous logits; out receives the max_new new tokens. */
VL_API int32_t vl_session_generate(vl_session *s, const int32_t *ids, int32_t n, int32_t max_new, int32_t *out,
                                   vl_error *err);
/* Submits work to the model's scheduler: prefill ids (n >= 1), then pick new_tokens tokens greedily
 * (each run in the next step, except the last). One work item at a time; while it is active the
 * session's own forward / generate calls fail with VL_ERR_STATE. */
VL_API int32_t vl_session_submit(vl_session *s, const int32_t *ids, int32_t n, int32_t new_tokens);
/* Drops the rest of the session's work (what ran stays in its KV cache). */
VL_API int32_t vl_session_cancel(vl_session *s);
/* The work of n sessions at once (a reader between steps): info[i] is session i's, and its picked
 * tokens from index from[i] on go to tokens, session after session (at most cap in all: pass the sum of
 * new_tokens - from[i], which they never exceed; tokens may be NULL when cap is 0). */
VL_API int32_t vl_sessions_work(vl_session *const *sessions, int32_t n, const int32_t *from, vl_work_info *info,
                                int32_t *tokens, int32_t cap);
VL_API const char *vl_session_work_error(vl_session *s);
/* Pages every device block of the session out to host memory (the copies run asynchronously; the
 * device blocks are free for other sessions at once). Not while a step of it runs. */
VL_API int32_t vl_session_page_out(vl_session *s);
/* Brings every paged-out block of the session back to the device, making room as the policy says;
 * returns once they are there. */
VL_API int32_t vl_session_page_in(vl_session *s, vl_error *err);
/* The session's next turn, for the next-use policy: smaller = sooner (a turn index or an expected start
 * time, one scale per model); < 0 = unknown (evicted first). */
VL_API int32_t vl_session_set_next_use(vl_session *s, double key);
/* At most max_device_blocks KV blocks on the device for the session (a step that needs more fails);
 * 0 = no limit. */
VL_API int32_t vl_session_set_quota(vl_session *s, int32_t max_device_blocks);
VL_API int32_t vl_session_last_step(vl_session *s, vl_step_stats *out);
/* Copies up to cap layer timings of the last pass into out; *n receives how many there are. A pass
 * that paused at breakpoints times its layers on the clock of device_ms: from the pass's start, the
 * waits for its resumes left out. */
VL_API int32_t vl_session_timeline(vl_session *s, vl_layer_timing *out, int32_t cap, int32_t *n);

/* Breakpoints. vl_session_forward_breakpoints starts a step as vl_session_forward does, with layers to
 * pause after (breakpoints: n_breakpoints layers in [0, num_layers), any order). It runs up to the
 * first of them: *paused_layer receives that layer and the session is paused, holding the step's state
 * (the residual stream after the layer for every position, the KV of the layers run, the step's KV
 * reservation) while the model runs other sessions. With no breakpoint left a step runs to the end:
 * *paused_layer = -1 and the logits are written as by vl_session_forward. offload != 0: each pause
 * moves what a resume needs (the residual, the step's KV rows of the layers run) to pinned host memory
 * and gives the device copies back (its KV blocks return to the pool); the resume brings them back.
 *
 * While a session is paused, vl_session_forward, _generate, _reset and a second
 * vl_session_forward_breakpoints fail with VL_ERR_STATE; these run:
 *  - vl_session_resume: continues to the next breakpoint, or to the end (logits_rows * vocab floats into
 *    logits, logits_rows as given at the start). If it fails the step is aborted, except when the pager
 *    cannot bring the session's blocks back (VL_ERR_OUT_OF_MEMORY): it then stays paused.
 *  - vl_session_abort: drops the step; the session's KV cache is exactly as before it.
 *  - vl_session_activation_get / _set: the residual stream after the paused layer, (tokens, hidden)
 *    float32 row-major; count must be tokens * hidden. _set drops pending edits.
 *  - vl_session_activation_edit: x <- x * scale + vec at every position; vec (count == hidden floats)
 *    or NULL to only scale. Applied on the device at the resume; vl_session_activation_get shows it.
 *  - vl_session_breakpoint_stats: waits for the device to reach the pause (see vl_breakpoint_stats).
 *  - vl_session_lens: the logit lens: the model's final norm and output head applied to the paused
 *    activation (pending edits included) of the last `rows` positions (1 <= rows <= tokens), rows * vocab
 *    float32 into logits. The step stays paused, unchanged: a resume gives the same logits as without it.
 * The pause itself does not wait for the device (unless offloading): a resume right away keeps the
 * device busy, and activation reads and writes wait for the pause's save on their own.
 * vl_session_free of a paused session drops its step. */
VL_API int32_t vl_session_forward_breakpoints(vl_session *s, const int32_t *ids, int32_t n, int32_t logits_rows,
                                              float *logits, const int32_t *breakpoints, int32_t n_breakpoints,
                                              int32_t offload, int32_t *paused_layer, vl_error *err);
VL_API int32_t vl_session_resume(vl_session *s, float *logits, int32_t *paused_layer, vl_error *err);
VL_API int32_t vl_session_abort(vl_session *s);
VL_API int32_t vl_session_activation_get(vl_session *s, float *out, int64_t count);
VL_API int32_t vl_session_activation_set(vl_session *s, const float *in, int64_t count);
VL_API int32_t vl_session_activation_edit(vl_session *s, float scale, const float *vec, int64_t count);
VL_API int32_t vl_session_breakpoint_stats(vl_session *s, vl_breakpoint_stats *out);
VL_API int32_t vl_session_lens(vl_session *s, int32_t rows, float *logits, vl_error *err);

#ifdef __cplusplus
}
#endif
#endif
