#!/usr/bin/env python3
"""bench_probes.py - what the probes cost, beside PyTorch, in one run.

Times `mpdbg run` on DINOv2-S (bench/export_dinov2.py) without probes and
with every probe on (statistics, diversity, breakpoints on nan/inf/overflow,
output captures, a session recorded), the runs interleaved and repeated;
and, in the same process run, PyTorch's forward on the same batch, plain and
with forward hooks taking per-module statistics the way users write them.
Prints a Markdown table (median per-batch milliseconds) for bench/RESULTS.md.

usage: bench/bench_probes.py [--batch 4] [--reps 5] [--policy fp32] [--device cpu]
                             [--workdir /tmp/mpdbg-bench] [--mpdbg build/mpdbg]
"""
import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def mpdbg_batch_ms(cmd):
    """Runs mpdbg; returns the per-batch times it printed (ms)."""
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("mpdbg failed (%d): %s\n%s" % (out.returncode, " ".join(cmd), out.stderr))
    return [float(m.group(1)) for m in re.finditer(r"^\S+\s+([0-9.]+) ms", out.stdout, re.M)]


def torch_times(model_path_dir, batch, reps, threads, device, dtype):
    import torch
    from safetensors.torch import load_file
    from transformers import Dinov2Config, Dinov2Model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = Dinov2Config(hidden_size=384, num_hidden_layers=12, num_attention_heads=6,
                       intermediate_size=1536, image_size=224, patch_size=14)
    model = Dinov2Model(cfg).eval().to(device)
    x = load_file(os.path.join(model_path_dir, "batch_b%d.safetensors" % batch))["pixel_values"].to(device)

    def stats_hook(_m, _i, out):
        t = out[0] if isinstance(out, (tuple, list)) else getattr(out, "last_hidden_state", out)
        if not torch.is_tensor(t) or not t.is_floating_point():
            return
        f = t.float()
        fin = torch.isfinite(f)
        v = f[fin]
        _ = (v.min(), v.max(), v.mean(), v.std(unbiased=False), v.abs().max(), (~fin).sum(),
             torch.bincount((torch.frexp(v[v != 0])[1] + 200).flatten(), minlength=400))
        if f.dim() > 1 and f.shape[0] > 1:
            _ = f.flatten(1).std(0, unbiased=False).mean()

    def timed(hooked):
        handles = [m.register_forward_hook(stats_hook) for m in model.modules()] if hooked else []
        ctx = torch.autocast(device_type=device, dtype=torch.bfloat16) if dtype == "bf16-autocast" else torch.no_grad()
        ms = []
        with torch.no_grad(), ctx:
            for _ in range(reps + 1):
                if device == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                model(pixel_values=x)
                if device == "cuda":
                    torch.cuda.synchronize()
                ms.append((time.perf_counter() - t0) * 1e3)
        for h in handles:
            h.remove()
        return ms[1:]

    return timed(False), timed(True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--policy", default="fp32")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workdir", default="/tmp/mpdbg-bench")
    ap.add_argument("--mpdbg", default=os.path.join(HERE, "..", "build", "mpdbg"))
    ap.add_argument("--no-torch", action="store_true")
    args = ap.parse_args()

    os.makedirs(args.workdir, exist_ok=True)
    model = os.path.join(args.workdir, "dinov2_s.onnx")
    data = os.path.join(args.workdir, "batch_b%d.safetensors" % args.batch)
    if not os.path.exists(model) or not os.path.exists(data):
        subprocess.run([sys.executable, os.path.join(HERE, "export_dinov2.py"), args.workdir,
                        "--batch", str(args.batch)], check=True, capture_output=True)
    # the batch three times: the first of each run is warm-up
    bdir = os.path.join(args.workdir, "b%d_x3" % args.batch)
    os.makedirs(bdir, exist_ok=True)
    for i in range(3):
        dst = os.path.join(bdir, "b%d.safetensors" % i)
        if not os.path.exists(dst):
            os.link(data, dst)
    threads = os.cpu_count() or 1
    base = [args.mpdbg, "run", model, "--data", bdir, "--policy", args.policy, "--device", args.device,
            "--threads", str(threads)]
    modes = {
        "no probes": base + ["--no-probes"],
        "every probe": base + ["--break", "nan", "--break", "inf", "--break", "overflow"],
        "every probe + session": base + ["--break", "nan", "--break", "inf", "--break", "overflow",
                                         "--session", None],
        "every probe + --compare fp32": base + ["--compare", "fp32"],
    }
    times = {k: [] for k in modes}
    for rep in range(args.reps):
        for name, cmd in modes.items():
            cmd = list(cmd)
            if None in cmd:
                db = os.path.join(args.workdir, "bench_%d.db" % rep)
                if os.path.exists(db):
                    os.unlink(db)
                cmd[cmd.index(None)] = db
            times[name] += mpdbg_batch_ms(cmd)[1:]
    med = {k: statistics.median(v) for k, v in times.items()}

    print("machine: %s, %d CPUs, %s; batch %d, policy %s, device %s, %d reps (median of %d batches each)"
          % (platform.processor() or platform.machine(), threads, platform.platform(), args.batch, args.policy,
             args.device, args.reps, len(times["no probes"])))
    print()
    print("| run | ms per batch | x no probes |")
    print("| --- | ---: | ---: |")
    for k in modes:
        print("| mpdbg, %s | %.1f | %.2f |" % (k, med[k], med[k] / med["no probes"]))
    if not args.no_torch:
        plain, hooked = torch_times(args.workdir, args.batch, args.reps * 2, threads, args.device, args.policy)
        p, h = statistics.median(plain), statistics.median(hooked)
        print("| PyTorch %s forward | %.1f | |" % (args.policy if args.policy != "fp32" else "fp32", p))
        print("| PyTorch forward, per-module statistics hooks | %.1f | %.2f (vs its plain forward) |" % (h, h / p))


if __name__ == "__main__":
    main()
