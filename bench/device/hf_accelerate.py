#!/usr/bin/env python3
"""The HF Accelerate row of the streaming benchmark: `dispatch_model` on the same shape and budget.

A Llama model of the given shape (the synthetic model's dimensions, fp16) is built in host memory,
placed by accelerate's `infer_auto_device_map` under the VRAM budget (the first layers on cuda:0, the
rest on "cpu"), and dispatched with `dispatch_model`: the CPU-placed modules keep their weights in
(pageable) host memory and accelerate's hooks copy each module's weights to the GPU just before its
forward, synchronously, every pass. The workload is the benchmark's: a prefill of N tokens then D
decoded tokens (greedy, with the KV cache). Weight values do not change the copy traffic, so they are
a constant fill (every page written, so copies read real memory, not the shared zero page) rather
than the synthetic generator's random values, which take minutes to draw for 60 GB in torch.

Writes one JSON object: the row (effective bandwidth = bytes of offloaded weights copied / wall time
of the passes), the placement accelerate chose, peak VRAM from torch, and the versions.
"""
import argparse, json, time
import torch
import accelerate
from accelerate import dispatch_model, infer_auto_device_map
from transformers import LlamaConfig, LlamaForCausalLM

p = argparse.ArgumentParser()
p.add_argument("--hidden", type=int, default=8192)
p.add_argument("--intermediate", type=int, default=28672)
p.add_argument("--layers", type=int, default=36)
p.add_argument("--heads", type=int, default=64)
p.add_argument("--kv-heads", type=int, default=8)
p.add_argument("--vocab", type=int, default=32000)
p.add_argument("--budget-gb", type=float, required=True, help="VRAM budget (GB, 1e9 bytes) for weights and activations")
p.add_argument("--prefill", type=int, default=512)
p.add_argument("--decode", type=int, default=16)
p.add_argument("--out", required=True)
a = p.parse_args()

cfg = LlamaConfig(hidden_size=a.hidden, intermediate_size=a.intermediate, num_hidden_layers=a.layers,
                  num_attention_heads=a.heads, num_key_value_heads=a.kv_heads, vocab_size=a.vocab,
                  max_position_embeddings=4096, torch_dtype=torch.float16)
t0 = time.time()
try:
    from transformers.modeling_utils import no_init_weights
except ImportError:  # transformers 5 moved it
    from transformers.initialization import no_init_weights
torch.set_default_dtype(torch.float16)
with no_init_weights():  # parameters allocated, not initialised (buffers such as inv_freq still are)
    model = LlamaForCausalLM(cfg).eval()
torch.set_default_dtype(torch.float32)
with torch.no_grad():
    for prm in model.parameters():
        prm.fill_(0.01)
build_s = time.time() - t0
weight_bytes = sum(t.numel() * t.element_size() for t in model.parameters())

# Leave room in the budget for activations and the KV cache, as accelerate's own docs advise:
# accelerate places whole decoder layers on the GPU until the budget is spent.
max_memory = {0: int(a.budget_gb * 1e9), "cpu": 10**13}
device_map = infer_auto_device_map(model, max_memory=max_memory, no_split_module_classes=["LlamaDecoderLayer"],
                                   dtype=torch.float16)
model = dispatch_model(model, device_map=device_map, main_device=0)
offloaded = [n for n, d in device_map.items() if d == "cpu"]
offloaded_bytes = sum(t.numel() * t.element_size() for n, t in model.named_parameters()
                      if any(n == m or n.startswith(m + ".") for m in offloaded))
gpu_layers = sum(1 for n, d in device_map.items() if n.startswith("model.layers.") and d == 0)

g = torch.Generator().manual_seed(1)
ids = torch.randint(0, a.vocab, (1, a.prefill), generator=g).cuda()
torch.cuda.reset_peak_memory_stats()
steps = []
with torch.no_grad():
    torch.cuda.synchronize(); t = time.perf_counter()
    out = model(ids, use_cache=True)
    torch.cuda.synchronize(); steps.append((time.perf_counter() - t) * 1e3)
    past, nxt = out.past_key_values, out.logits[:, -1:].argmax(-1)
    for _ in range(a.decode):
        t = time.perf_counter()
        out = model(nxt, past_key_values=past, use_cache=True)
        torch.cuda.synchronize(); steps.append((time.perf_counter() - t) * 1e3)
        past, nxt = out.past_key_values, out.logits[:, -1:].argmax(-1)
wall_ms = sum(steps)
passes = len(steps)
row = {
    "placement": "hf-accelerate",
    "effective_bandwidth_gbps": offloaded_bytes * passes / (wall_ms / 1e3) / 1e9,
    "decode_bandwidth_gbps": offloaded_bytes * (passes - 1) / (sum(steps[1:]) / 1e3) / 1e9,
    "latency_ms": wall_ms,
    "prefill_ms": steps[0],
    "decode_ms_per_token": sum(steps[1:]) / (passes - 1),
    "bytes_streamed": offloaded_bytes * passes,
    "resident_layers": gpu_layers,
    "peak_vram_gb": torch.cuda.max_memory_allocated() / 1e9,
    "logit_rel_err": None,
}
res = {"row": row, "weight_bytes": weight_bytes, "offloaded_bytes": offloaded_bytes, "build_s": build_s,
       "budget_gb": a.budget_gb, "layers": a.layers, "torch": torch.__version__,
       "transformers": __import__("transformers").__version__, "accelerate": accelerate.__version__}
json.dump(res, open(a.out, "w"), indent=1)
print(f"hf-accelerate: {gpu_layers}/{a.layers} layers on the GPU, {offloaded_bytes / 1e9:.1f} GB offloaded, "
      f"{row['effective_bandwidth_gbps']:.1f} GB/s effective, latency {wall_ms:.0f} ms, peak {row['peak_vram_gb']:.2f} GB")
