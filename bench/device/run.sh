#!/usr/bin/env bash
# Runs on the GPU machine (CUDA, cuBLAS, Python with torch and transformers; no Node.js, no network),
# in a copy of the working tree with .device/ carried (see prepare.sh). Builds native/ with the CUDA
# backend, then runs the named suites. Everything worth keeping is written to $OUT.
#   bash bench/device/run.sh ops|perf|perf-batch|perf-prefill|profile|correctness|decode|streaming|breakpoints|paging|agents|batch-decode|all   (or a comma-separated list)
#   streaming-hf,streaming: STREAM_LAYERS (default 36: 63 GB of fp16 weights), STREAM_BUDGET_GB (20),
#   STREAM_RING (4GB), STREAM_PLACEMENTS (stream,stream-sync,accelerate,auto); STREAM_HF=FILE merges an HF Accelerate row measured by an earlier streaming-hf.
set -uo pipefail
suite=${1:-all}
OUT=${OUT:-/tmp/vramlab-out}
mkdir -p "$OUT"
xz -dc .device/node.xz > /tmp/node && chmod +x /tmp/node && export PATH=/tmp:$PATH
[ -e node_modules ] || ln -s .device/node_modules node_modules
[ -e dist ] || ln -s .device/dist dist
export VRAMLAB_COMMIT=$(cat .device/commit 2>/dev/null || echo unknown)
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv,noheader | tee "$OUT/gpu.txt"

echo "== build"
# simdjson's sources, which a checkout has in node_modules/@nozbe/simdjson/src (prepare.sh).
mkdir -p /tmp/simdjson
for f in simdjson.h simdjson.cpp; do xz -dc ".device/simdjson/$f.xz" > "/tmp/simdjson/$f" || exit 1; done
cmake -S native -B native/build -DCMAKE_BUILD_TYPE=Release -DVRAMLAB_SIMDJSON_DIR=/tmp/simdjson > "$OUT/build.log" 2>&1 &&
  cmake --build native/build -j 16 >> "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
ls native/build/*.so

layers=${STREAM_LAYERS:-36}
budget_gb=${STREAM_BUDGET_GB:-20}
status=0
run_suite() {
  case "$1" in
    ops) native/build/test-backend-ops 2>&1 | tee "$OUT/ops.txt" || status=1 ;;
    perf) native/build/test-backend-ops --perf 2>&1 | tee "$OUT/perf.txt" || status=1 ;;
    # A batched decode step's parts against the batch size.
    perf-batch) native/build/test-backend-ops --perf-batch 2>&1 | tee "$OUT/perf-batch.txt" || status=1 ;;
    # A prefill's ops against the large-GEMM rate: the 7B shape at 128..8192 tokens, the 13B at 2048.
    perf-prefill)
      native/build/test-backend-ops --perf-prefill cuda:0 7b 128,512,2048,8192 2>&1 | tee "$OUT/perf-prefill.txt" || status=1
      native/build/test-backend-ops --perf-prefill cuda:0 13b 2048 2>&1 | tee -a "$OUT/perf-prefill.txt" || status=1
      ;;
    # Nsight Compute at batch 32 (perf-batch's shape): the decode attention in full, and the layer's four
    # GEMMs (the first four are the layer's).
    profile)
      VRAMLAB_PERF_BATCH_ONLY=32 ncu --clock-control none -k regex:attention_decode --launch-count 1 --set full \
        native/build/test-backend-ops --perf-batch > "$OUT/ncu-attention-b32.txt" 2>&1 || status=1
      VRAMLAB_PERF_BATCH_ONLY=32 ncu --clock-control none -k regex:'nvjet|gemm|xmma|cutlass' --launch-count 4 \
        --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats --section WarpStateStats \
        native/build/test-backend-ops --perf-batch > "$OUT/ncu-gemms-b32.txt" 2>&1 || status=1
      tail -5 "$OUT/ncu-attention-b32.txt" "$OUT/ncu-gemms-b32.txt"
      ;;
    correctness) python3 bench/device/correctness.py --out "$OUT/correctness.json" || status=1 ;;
    decode)
      python3 bench/device/hf_decode.py --out "$OUT/hf_decode.json" || status=1
      node dist/bench/decode.js --device cuda:0 --hf "$OUT/hf_decode.json" --out "$OUT/decode.json" || status=1
      ;;
    streaming-hf)
      # HF Accelerate's dispatch_model on the streaming benchmark's shape and budget, in its own process
      # (host RAM holds one copy of the weights at a time); shape flags match synthetic:llama-70b.
      python3 bench/device/hf_accelerate.py --layers "$layers" --budget-gb "$budget_gb" \
        --prefill 512 --decode 16 --out "$OUT/hf_accelerate.json" || status=1
      ;;
    streaming)
      # Merges the streaming-hf row when that ran first in this command (or STREAM_HF names its JSON).
      hf_json=${STREAM_HF:-$OUT/hf_accelerate.json}
      hf=(); [ -f "$hf_json" ] && hf=(--hf "$hf_json")
      node dist/bench/streaming.js --device cuda:0 --model "synthetic:llama-70b,layers=$layers" \
        --budget "${budget_gb}GB" --ring "${STREAM_RING:-4GB}" --prefetch 2 --prefill 512 --decode 16 \
        --placements "${STREAM_PLACEMENTS:-stream,stream-sync,accelerate,auto}" "${hf[@]}" --out "$OUT/streaming.json" || status=1
      ;;
    breakpoints) node dist/bench/breakpoints.js --device cuda:0 --out "$OUT/breakpoints.json" || status=1 ;;
    # KV paging: Llama-2-13B shape under 80 GB; PAGING_SESSIONS (default 64: 1.6x the budget).
    paging) node dist/bench/paging.js --device cuda:0 --sessions "${PAGING_SESSIONS:-64}" --out "$OUT/paging.json" || status=1 ;;
    # Agent scaling: Llama-2-7B shape under 40 GB; AGENTS (default 1..128), AGENTS_SERVERLESS (1,2,4,8,32),
    # AGENTS_SYSTEMS (shared,keep-alive,serverless), PREFILL_CHUNK (128; a list sweeps it).
    agents)
      node dist/bench/agents.js --device cuda:0 --agents "${AGENTS:-1,2,4,8,16,32,64,128}" --serverless "${AGENTS_SERVERLESS:-1,2,4,8,32}" \
        --systems "${AGENTS_SYSTEMS:-shared,keep-alive,serverless}" --prefill-chunk "${PREFILL_CHUNK:-128}" --out "$OUT/agents.json" || status=1
      ;;
    batch-decode) node dist/bench/batch-decode.js --device cuda:0 --out "$OUT/batch-decode.json" || status=1 ;;
    *) echo "unknown suite $1"; status=1 ;;
  esac
}
if [ "$suite" = all ]; then
  for s in ops correctness decode; do echo "== $s"; run_suite $s; done
else
  for s in ${suite//,/ }; do echo "== $s"; run_suite $s; done
fi
exit $status
