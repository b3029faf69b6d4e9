#!/usr/bin/env python3
"""bench_gpu.py - mpdbg's CUDA forward pass beside PyTorch eager, in one run.

Builds DINOv2-S/14 (transformers Dinov2Model: hidden 384, 12 layers, 6 heads,
224x224, random weights, seed 0), exports it with torch.onnx, and times on
the same GPU, for batch 1 and 32:

  PyTorch eager  fp32, and bf16 under torch.autocast (torch.inference_mode)
  mpdbg          --policy fp32, bf16-autocast and bf16, no probes
                 (bench_forward: the input already on the GPU, as PyTorch's is)

Each figure is the median of --runs runs after --warmup, timed with CUDA
events.  Also: TFLOP/s (the forward's FLOPs counted by
torch.utils.flop_counter), the most device memory a forward pass holds beyond
the weights and the input, and how far mpdbg's output is from PyTorch's
(normalised mean squared error against the fp32 eager output).  Prints a
Markdown table for bench/RESULTS.md; --out keeps it with the raw JSON.

usage: bench/bench_gpu.py [--bench build/bench/bench_forward] [--runs 30]
                          [--warmup 10] [--workdir /tmp/mpdbg-gpu] [--out DIR]
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import Dinov2Config, Dinov2Model

BATCHES = (1, 32)
MPDBG_POLICIES = ("fp32", "bf16-autocast", "bf16")


def build_model():
    torch.manual_seed(0)
    cfg = Dinov2Config(hidden_size=384, num_hidden_layers=12, num_attention_heads=6,
                       intermediate_size=1536, image_size=224, patch_size=14)
    return Dinov2Model(cfg).eval()


def export(model, workdir):
    path = os.path.join(workdir, "dinov2_s.onnx")
    x = torch.randn(1, 3, 224, 224)
    torch.onnx.export(model, (x,), path, input_names=["pixel_values"],
                      output_names=["last_hidden_state", "pooler_output"],
                      dynamic_axes={"pixel_values": {0: "batch"}}, opset_version=17, dynamo=False)
    return path


def torch_time(model, x, mode, runs, warmup):
    """Median and minimum milliseconds between CUDA events, the peak memory
    beyond what was allocated before the pass, and the output."""
    def fwd():
        with torch.inference_mode():
            if mode == "bf16-autocast":
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    return model(pixel_values=x).last_hidden_state
            return model(pixel_values=x).last_hidden_state

    for _ in range(warmup):
        fwd()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fwd()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    out = fwd()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    return statistics.median(times), min(times), peak, out.float().cpu().numpy()


def flops(model, x):
    from torch.utils.flop_counter import FlopCounterMode
    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        model(pixel_values=x)
    return fc.get_total_flops()


def nmse(a, ref):
    a = a.astype(np.float64).ravel()
    ref = ref.astype(np.float64).ravel()
    return float(((a - ref) ** 2).sum() / max((ref ** 2).sum(), 1e-300))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default=os.path.join(here, "..", "build", "bench", "bench_forward"))
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--workdir", default="/tmp/mpdbg-gpu")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    if not torch.cuda.is_available():
        sys.exit("bench_gpu.py: no CUDA GPU here")
    torch.backends.cuda.matmul.allow_tf32 = False   # fp32 means fp32, on both sides
    torch.backends.cudnn.allow_tf32 = False

    model = build_model()
    onnx_path = export(model, args.workdir)
    model = model.cuda()
    rows, raw = [], []
    for bs in BATCHES:
        g = torch.Generator().manual_seed(1000 + bs)
        xh = torch.randn(bs, 3, 224, 224, generator=g)
        batch_path = os.path.join(args.workdir, f"batch_b{bs}.safetensors")
        save_file({"pixel_values": xh}, batch_path)
        x = xh.cuda()
        fl = flops(model, x)
        ref = None
        for mode in ("fp32", "bf16-autocast"):
            med, mn, peak, out = torch_time(model, x, mode, args.runs, args.warmup)
            if mode == "fp32":
                ref = out
            r = {"impl": "PyTorch eager", "policy": mode, "batch": bs, "ms": med, "min_ms": mn,
                 "peak_bytes": peak, "tflops": fl / med / 1e9, "nmse": nmse(out, ref)}
            rows.append(r)
            raw.append(r)
        for pol in MPDBG_POLICIES:
            out_bin = os.path.join(args.workdir, f"mpdbg_{pol}_b{bs}.bin")
            cmd = [args.bench, onnx_path, batch_path, "--policy", pol, "--device", "cuda",
                   "--runs", str(args.runs), "--warmup", str(args.warmup), "--out", out_bin]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                sys.stderr.write(p.stderr)
                rows.append({"impl": "mpdbg", "policy": pol, "batch": bs, "error": p.stderr.strip()[-300:]})
                continue
            j = json.loads(p.stdout.strip().splitlines()[-1])
            out = np.fromfile(out_bin, dtype=np.float32)
            r = {"impl": "mpdbg", "policy": pol, "batch": bs, "ms": j["gpu_ms"], "min_ms": j["gpu_min_ms"],
                 "wall_ms": j["wall_ms"], "first_ms": j["first_ms"], "peak_bytes": j["activation_peak_bytes"],
                 "tflops": fl / j["gpu_ms"] / 1e9, "nmse": nmse(out, ref)}
            rows.append(r)
            raw.append(dict(r, json=j))

    autocast_ms = {r["batch"]: r["ms"] for r in rows if r["impl"] == "PyTorch eager" and r["policy"] == "bf16-autocast"}
    autocast_mem = {r["batch"]: r["peak_bytes"] for r in rows
                    if r["impl"] == "PyTorch eager" and r["policy"] == "bf16-autocast"}
    lines = []
    props = torch.cuda.get_device_properties(0)
    drv = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                         capture_output=True, text=True).stdout.strip()
    import transformers
    lines.append(f"{datetime.date.today().isoformat()} on {props.name} (driver {drv}), "
                 f"PyTorch {torch.__version__} (CUDA {torch.version.cuda}), transformers {transformers.__version__}, "
                 f"Python {platform.python_version()}; median of {args.runs} runs after {args.warmup}, CUDA events.")
    lines.append("")
    lines.append("| batch | implementation | precision | ms | min ms | TFLOP/s | × autocast | peak activations MiB | "
                 "vs autocast mem | NMSE vs fp32 eager | whole step ms |")
    lines.append("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['batch']} | {r['impl']} | {r['policy']} | failed: {r['error']} | | | | | | | |")
            continue
        lines.append(f"| {r['batch']} | {r['impl']} | {r['policy']} | {r['ms']:.2f} | {r['min_ms']:.2f} | "
                     f"{r['tflops']:.1f} | {r['ms'] / autocast_ms[r['batch']]:.2f} | {r['peak_bytes'] / 2**20:.1f} | "
                     f"{r['peak_bytes'] / max(autocast_mem[r['batch']], 1):.2f} | {r['nmse']:.2e} | "
                     f"{r.get('wall_ms', float('nan')):.2f} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "bench_gpu.md"), "w") as f:
            f.write(text + "\n")
        with open(os.path.join(args.out, "bench_gpu.json"), "w") as f:
            json.dump(raw, f, indent=1)


if __name__ == "__main__":
    main()
