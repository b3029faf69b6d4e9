#!/usr/bin/env python3
"""bench_probes.py - what the probes cost, beside the bare forward and
PyTorch, in one run (issue 15).

For each batch size and policy, times `mpdbg run` on DINOv2-S
(bench/export_dinov2.py): without probes; with every probe on (statistics,
diversity, breakpoints on nan/inf/overflow, output captures); the same with
a session recorded; with --compare fp32; with every probe on the literal
node-by-node path (--literal, the path before issue 15); the runs
interleaved and repeated.  Beside them, bench_forward's whole step (the
batch bound from host memory, then the forward: the least a run of mpdbg
can take per batch) and, in this same process run, PyTorch's forward on the
same batch, plain and with forward hooks taking per-module statistics the
way users write them.  Prints one Markdown table per (batch, policy), median
per-batch milliseconds, and the ratios issue 15's "Done when" names, for
bench/RESULTS.md.

usage: bench/bench_probes.py [--batch 1,32] [--policy fp32,bf16-autocast] [--device cuda]
                             [--reps 5] [--batches-per-run 8] [--workdir /tmp/mpdbg-bench]
                             [--mpdbg build/mpdbg] [--bench-forward build/bench/bench_forward]
                             [--no-torch] [--out FILE.md]
       bench/bench_probes.py --model M.onnx --data BATCH.safetensors --batch N --no-torch ...
  (--model/--data: another model and one batch of N samples instead of DINOv2, no export, no PyTorch)
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BREAKS = ["--break", "nan", "--break", "inf", "--break", "overflow"]
# the runs of mpdbg, by name: the options after `run MODEL --data DIR ...`;
# None stands for a fresh session file
MODES = [
    ("no probes", ["--no-probes"]),
    ("every probe", BREAKS),
    ("every probe + session", BREAKS + ["--session", None]),
    ("every probe + --compare fp32", BREAKS + ["--compare", "fp32"]),
    ("every probe, --literal (node by node)", BREAKS + ["--literal"]),
]
# the first batches of each run are left out: the first runs and records,
# the second plans the memory, the third is captured as a graph
WARM_BATCHES = 3


def int_list(text):
    try:
        v = [int(x) for x in text.split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError("a comma-separated list of batch sizes, not '%s'" % text)
    if not v or min(v) < 1:
        raise argparse.ArgumentTypeError("batch sizes are >= 1: '%s'" % text)
    return v


def str_list(text):
    v = [x for x in text.split(",") if x]
    if not v:
        raise argparse.ArgumentTypeError("a comma-separated list, not '%s'" % text)
    return v


def mpdbg_batch_ms(cmd):
    """Runs mpdbg; returns the per-batch times it printed (ms) and its
    --timing lines (where a batch's time went, what the executor did)."""
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("mpdbg failed (%d): %s\n%s" % (out.returncode, " ".join(cmd), out.stderr))
    timing = [l for l in out.stderr.splitlines()
              if l.startswith(("timing", "executor:", "fp32 shadow:", "  no graph:", "  a group ran"))]
    return [float(m.group(1)) for m in re.finditer(r"^\S+\s+([0-9.]+) ms", out.stdout, re.M)], timing


def bench_forward(path, model, data, policy, device, runs):
    """bench_forward's JSON line (wall_ms: the whole step), or None with a note when it fails."""
    cmd = [path, model, data, "--policy", policy, "--device", device, "--runs", str(runs),
           "--warmup", str(WARM_BATCHES)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0 or not out.stdout.strip():
        return None, "bench_forward failed (%d): %s" % (out.returncode, out.stderr.strip()[-300:])
    return json.loads(out.stdout.strip().splitlines()[-1]), None


def torch_times(data, batch, reps, threads, device, policy):
    import torch
    from safetensors.torch import load_file
    from transformers import Dinov2Config, Dinov2Model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = Dinov2Config(hidden_size=384, num_hidden_layers=12, num_attention_heads=6,
                       intermediate_size=1536, image_size=224, patch_size=14)
    model = Dinov2Model(cfg).eval().to(device)
    x = load_file(data)["pixel_values"].to(device)
    assert x.shape[0] == batch

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
        ctx = torch.autocast(device_type=device, dtype=torch.bfloat16) if policy == "bf16-autocast" else torch.no_grad()
        ms = []
        with torch.no_grad(), ctx:
            for _ in range(reps + WARM_BATCHES):
                if device == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                model(pixel_values=x)
                if device == "cuda":
                    torch.cuda.synchronize()
                ms.append((time.perf_counter() - t0) * 1e3)
        for h in handles:
            h.remove()
        return ms[WARM_BATCHES:]

    return timed(False), timed(True)


def dinov2_inputs(workdir, batch):
    """DINOv2-S and a batch of `batch` images in workdir, exported once."""
    model = os.path.join(workdir, "dinov2_s.onnx")
    data = os.path.join(workdir, "batch_b%d.safetensors" % batch)
    if not os.path.exists(model) or not os.path.exists(data):
        p = subprocess.run([sys.executable, os.path.join(HERE, "export_dinov2.py"), workdir, "--batch", str(batch)],
                           capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit("bench/export_dinov2.py failed (it needs torch and transformers; --model/--data use "
                     "another model):\n" + p.stderr[-2000:])
    return model, data


def batch_dir(workdir, data, n):
    """A folder holding the batch n times (hard links, else copies): one run of mpdbg."""
    d = os.path.join(workdir, "%s_x%d" % (os.path.splitext(os.path.basename(data))[0], n))
    os.makedirs(d, exist_ok=True)
    for i in range(n):
        dst = os.path.join(d, "b%03d.safetensors" % i)
        if not os.path.exists(dst):
            try:
                os.link(data, dst)
            except OSError:
                with open(data, "rb") as src, open(dst, "wb") as out:
                    out.write(src.read())
    return d


def time_mpdbg(args, model, bdir, policy, tag):
    """Median per-batch ms of each mode, the modes interleaved rep by rep."""
    base = [args.mpdbg, "run", model, "--data", bdir, "--policy", policy, "--device", args.device, "--timing"]
    if args.threads:
        base += ["--threads", str(args.threads)]
    times = {name: [] for name, _ in MODES}
    breakdown = []
    for rep in range(args.reps):
        for name, opts in MODES:
            cmd = base + list(opts)
            if None in cmd:
                db = os.path.join(args.workdir, "bench_%s_%d.db" % (tag, rep))
                if os.path.exists(db):
                    os.unlink(db)
                cmd[cmd.index(None)] = db
            ms, timing = mpdbg_batch_ms(cmd)
            if rep == args.reps - 1:
                breakdown.append("- %s: %s" % (name, timing[0] if timing else "(no --timing lines)"))
                breakdown += ["  - " + l.strip() for l in timing[1:]]
            if len(ms) != args.batches_per_run:
                sys.exit("mpdbg printed %d batch times, expected %d: %s" % (len(ms), args.batches_per_run,
                                                                            " ".join(cmd)))
            times[name] += ms[WARM_BATCHES:]
    return {k: statistics.median(v) for k, v in times.items()}, len(times["no probes"]), breakdown


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt(x, spec="%.2f"):
    return "-" if x is None else spec % x


def table(batch, policy, med, n, fwd, fwd_note, torch_ms, torch_note):
    """The Markdown for one (batch, policy): the rows, then the ratios of issue 15."""
    none = med["no probes"]
    lines = ["### batch %d, %s" % (batch, policy), "",
             "| run | ms per batch | x no probes |", "| --- | ---: | ---: |"]
    for name, _ in MODES:
        lines.append("| mpdbg run, %s | %.2f | %.2f |" % (name, med[name], med[name] / none))
    whole = fwd["wall_ms"] if fwd else None
    if fwd:
        lines.append("| bench_forward, whole step (batch bound from host memory + forward) | %.2f | %.2f |"
                     % (whole, whole / none))
        lines.append("| bench_forward, forward alone (inputs resident) | %.2f | %.2f |"
                     % (fwd["gpu_ms"], fwd["gpu_ms"] / none))
    plain = hooked = None
    if torch_ms:
        plain, hooked = torch_ms
        lines.append("| PyTorch forward | %.2f | %.2f |" % (plain, plain / none))
        lines.append("| PyTorch forward, per-module statistics hooks | %.2f | %.2f |" % (hooked, hooked / none))
    lines.append("")
    for note in (fwd_note, torch_note):
        if note:
            lines.append("(%s)" % note)
    lines.append("mpdbg: median of %d batches per row (the first %d batches of each run left out)." % (n, WARM_BATCHES))
    lines.append("")
    session_limit = 1.5 if batch == 1 else 1.25
    checks = [
        ("(every probe + session) / (no probes)", ratio(med["every probe + session"], none), session_limit),
        ("(no probes) / (bench_forward whole step)", ratio(none, whole), 1.3),
        ("(--compare fp32) / (no probes)", ratio(med["every probe + --compare fp32"], none), 4.0),
        ("(every probe) / (PyTorch with statistics hooks)", ratio(med["every probe"], hooked), 0.05),
    ]
    lines += ["| ratio (issue 15) | value | at most | |", "| --- | ---: | ---: | --- |"]
    for what, v, limit in checks:
        verdict = "" if v is None else ("meets" if v <= limit else "misses")
        lines.append("| %s | %s | %.2f | %s |" % (what, fmt(v), limit, verdict))
    lines.append("")
    return lines


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int_list, default=[1, 32], help="batch sizes, comma-separated")
    ap.add_argument("--policy", type=str_list, default=["fp32", "bf16-autocast"], help="policies, comma-separated")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--batches-per-run", type=int, default=8,
                    help="batches in each mpdbg run (the first %d are warm-up)" % WARM_BATCHES)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=0, help="mpdbg's and PyTorch's CPU threads (default: all)")
    ap.add_argument("--workdir", default="/tmp/mpdbg-bench")
    ap.add_argument("--mpdbg", default=os.path.join(HERE, "..", "build", "mpdbg"))
    ap.add_argument("--bench-forward", default=os.path.join(HERE, "..", "build", "bench", "bench_forward"))
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--model", help="another ONNX model instead of DINOv2 (with --data; no PyTorch)")
    ap.add_argument("--data", help="with --model: one batch, of the single --batch size")
    ap.add_argument("--out", help="also write the tables to this file")
    args = ap.parse_args()
    if bool(args.model) != bool(args.data):
        ap.error("--model and --data go together")
    if args.model and len(args.batch) != 1:
        ap.error("--model/--data is one batch: give its size as the single --batch")
    if args.reps < 1 or args.batches_per_run <= WARM_BATCHES:
        ap.error("--reps >= 1 and --batches-per-run > %d" % WARM_BATCHES)
    if not os.access(args.mpdbg, os.X_OK):
        ap.error("%s is not an executable (--mpdbg)" % args.mpdbg)
    return args


def main():
    args = parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    threads = args.threads or os.cpu_count() or 1
    has_fwd = os.access(args.bench_forward, os.X_OK)
    out = ["machine: %s, %d CPUs, %s; device %s; %d reps of %d batches per mpdbg run"
           % (platform.processor() or platform.machine(), os.cpu_count() or 1, platform.platform(), args.device,
              args.reps, args.batches_per_run), ""]
    print("\n".join(out), flush=True)
    for batch in args.batch:
        model, data = (args.model, args.data) if args.model else dinov2_inputs(args.workdir, batch)
        bdir = batch_dir(args.workdir, data, args.batches_per_run)
        for policy in args.policy:
            med, n, breakdown = time_mpdbg(args, model, bdir, policy, "b%d_%s" % (batch, policy))
            fwd, fwd_note = (bench_forward(args.bench_forward, model, data, policy, args.device,
                                           args.reps * args.batches_per_run) if has_fwd
                             else (None, "no bench_forward at %s (--bench-forward)" % args.bench_forward))
            torch_ms, torch_note = None, None
            if args.no_torch or args.model:
                torch_note = "PyTorch not run (%s)" % ("--no-torch" if args.no_torch else "--model")
            else:
                plain, hooked = torch_times(data, batch, args.reps * 2, threads, args.device, policy)
                torch_ms = (statistics.median(plain), statistics.median(hooked))
            lines = table(batch, policy, med, n, fwd, fwd_note, torch_ms, torch_note)
            lines += ["Where the time went (`mpdbg run --timing`, the last repetition of each row):", ""] + breakdown + [""]
            print("\n".join(lines), flush=True)
            out += lines
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
