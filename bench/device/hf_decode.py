#!/usr/bin/env python3
"""The HuggingFace transformers side of the decode benchmark, and the machine's HBM bandwidth.

Llama-2-7B shape, random fp16 weights on cuda:0, batch 1: a 72-token prompt then 50 new tokens with
generate (greedy), and a 512-token prefill. Also a large device-to-device copy (bytes read + written)
for the HBM floor. Writes one JSON object.
"""
import argparse, json, statistics, subprocess
import torch
from transformers import LlamaConfig, LlamaForCausalLM

p = argparse.ArgumentParser()
p.add_argument("--out", required=True)
p.add_argument("--reps", type=int, default=3)
a = p.parse_args()

def timed(fn, reps, warmup=1):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); fn(); e.record(); torch.cuda.synchronize()
        ts.append(s.elapsed_time(e))
    return statistics.median(ts)

# Device-to-device bandwidth: 4 GiB copied 10 times, counting bytes read plus bytes written.
n = 4 << 30
src = torch.empty(n, dtype=torch.uint8, device="cuda").random_(0, 255)
dst = torch.empty_like(src)
ms = timed(lambda: [dst.copy_(src) for _ in range(10)], 3)
d2d_gbps = 2 * n * 10 / (ms / 1e3) / 1e9
del src, dst
torch.cuda.empty_cache()

torch.manual_seed(0)
cfg = LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                  num_key_value_heads=32, vocab_size=32000, max_position_embeddings=4096)
torch.set_default_dtype(torch.float16)
with torch.device("cuda"):
    model = LlamaForCausalLM(cfg).eval()
torch.set_default_dtype(torch.float32)
weight_bytes = sum(t.numel() * t.element_size() for t in model.parameters())

g = torch.Generator().manual_seed(1)
p72 = torch.randint(0, 32000, (1, 72), generator=g).cuda()
p512 = torch.randint(0, 32000, (1, 512), generator=g).cuda()
with torch.no_grad():
    prefill_ms = timed(lambda: model(p512), 5, 2)
    prefill72_ms = timed(lambda: model(p72), 5, 2)
    gen_ms = timed(lambda: model.generate(p72, max_new_tokens=50, min_new_tokens=50, do_sample=False,
                                          pad_token_id=0), a.reps)
per_token_ms = (gen_ms - prefill72_ms) / 49

driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
res = {"device": torch.cuda.get_device_name(), "driver": driver, "d2d_gbps": d2d_gbps, "hf_weight_bytes": weight_bytes,
       "torch": torch.__version__, "transformers": __import__("transformers").__version__,
       "hf": {"per_token_ms": per_token_ms, "prefill_ms": prefill_ms, "generate_ms": gen_ms, "prefill72_ms": prefill72_ms}}
json.dump(res, open(a.out, "w"), indent=1)
print(json.dumps(res))
