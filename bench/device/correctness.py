#!/usr/bin/env python3
"""Correctness on the GPU: vramlab's CUDA backend against HuggingFace transformers references.

For the two fixtures and a larger random model made here with make_reference.py, runs
`vramlab logits` and `vramlab generate` on cuda:0 and reports the logits' relative L2 error and how
many greedy tokens match. Targets (fp16): rel err < 1e-2, the first 16 greedy tokens equal.
"""
import argparse, json, os, subprocess, sys, math

p = argparse.ArgumentParser()
p.add_argument("--out", required=True)
p.add_argument("--device", default="cuda:0")
a = p.parse_args()

big = "/tmp/vramlab-ref-2048"
if not os.path.exists(os.path.join(big, "reference.json")):
    subprocess.run([sys.executable, ".device/tools/make_reference.py", "--out", big, "--hidden", "2048", "--layers", "16",
                    "--heads", "32", "--kv-heads", "8", "--ffn", "5632", "--vocab", "32000", "--prompt-len", "128",
                    "--new-tokens", "16", "--seed", "3", "--init-std", "0.02"], check=True)

def vramlab(*args):
    r = subprocess.run(["node", "dist/cli/vramlab.js", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"vramlab {' '.join(args[:2])} failed: {r.stderr.strip()}")
    return json.loads(r.stdout)

rows, ok = [], True
for name, d in [("tiny-llama-gqa", "test/fixtures/tiny-llama-gqa"), ("tiny-llama-mha", "test/fixtures/tiny-llama-mha"),
                ("random-2048x16-gqa", big)]:
    ref = json.load(open(os.path.join(d, "reference.json")))
    ids = ",".join(map(str, ref["input_ids"]))
    logits = vramlab("logits", d, "--ids", ids, "--device", a.device, "--json")["logits"]
    num = sum((x - y) ** 2 for r1, r2 in zip(logits, ref["logits"]) for x, y in zip(r1, r2))
    den = sum(y ** 2 for r2 in ref["logits"] for y in r2)
    rel = math.sqrt(num / den)
    n = len(ref["greedy"])
    tokens = vramlab("generate", d, "--ids", ids, "--max-new-tokens", str(n), "--device", a.device, "--json")["tokens"]
    match = next((i for i, (x, y) in enumerate(zip(tokens, ref["greedy"])) if x != y), n)
    passed = rel < 1e-2 and match >= min(16, n)
    ok &= passed
    rows.append({"model": name, "logit_rel_err": rel, "greedy_match": match, "greedy_len": n, "pass": passed})
    print(f"{name:22s} logits rel err {rel:.3e}   greedy tokens matching {match}/{n}   {'PASS' if passed else 'FAIL'}")
# The GPU by name (the results' evidence), as nvidia-smi gives it for the device index asked for.
index = a.device.split(":")[1] if ":" in a.device else "0"
gpu = subprocess.run(["nvidia-smi", "-i", index, "--query-gpu=name,driver_version", "--format=csv,noheader"],
                     capture_output=True, text=True).stdout.strip().split(", ")
json.dump({"benchmark": "correctness", "device": f"{gpu[0]} ({a.device})", "driver": gpu[-1], "commit": os.environ.get("VRAMLAB_COMMIT", "unknown"), "rows": rows},
          open(a.out, "w"), indent=1)
sys.exit(0 if ok else 1)
