#!/usr/bin/env python3
"""ncu_summary.py CSV - per-kernel GPU time from `ncu --csv --metrics
gpu__time_duration.sum`, summed by kernel name, largest first."""
import csv
import sys
from collections import defaultdict

tot, cnt = defaultdict(float), defaultdict(int)
with open(sys.argv[1], newline="") as f:
    rows = [r for r in csv.reader(f) if len(r) > 5]
rows = rows[next(i for i, r in enumerate(rows) if "Kernel Name" in r):]  # after the program's own output
head = rows[0]
ki, vi, ui = head.index("Kernel Name"), head.index("Metric Value"), head.index("Metric Unit")
for r in rows[1:]:
    if r[vi] in ("", "n/a"):
        continue
    v = float(r[vi].replace(",", ""))
    v *= {"ns": 1e-3, "nsecond": 1e-3, "us": 1, "usecond": 1, "ms": 1e3, "msecond": 1e3}[r[ui]]
    name = r[ki][:72] + " " + r[head.index("Grid Size")]
    tot[name] += v
    cnt[name] += 1
total = sum(tot.values())
print("%d kernels, %.3f ms" % (sum(cnt.values()), total / 1e3))
for name, v in sorted(tot.items(), key=lambda kv: -kv[1])[:40]:
    print("%9.1f us %5.1f%% %4d  %s" % (v, 100 * v / total, cnt[name], name))
