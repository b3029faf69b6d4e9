#!/usr/bin/env python3
"""ncu_summary.py CSV - per-kernel GPU time from `ncu --csv --metrics
gpu__time_duration.sum`, summed by kernel name, largest first."""
import csv
import sys
from collections import defaultdict

tot, cnt = defaultdict(float), defaultdict(int)
with open(sys.argv[1], newline="") as f:
    rows = [r for r in csv.reader(f) if len(r) > 5]
head = rows[0]
ki, vi, ui = head.index("Kernel Name"), head.index("Metric Value"), head.index("Metric Unit")
for r in rows[1:]:
    if r[vi] in ("", "n/a"):
        continue
    v = float(r[vi].replace(",", ""))
    v = v / 1e3 if r[ui] == "nsecond" else v if r[ui] == "usecond" else v * 1e3
    name = r[ki][:90]
    tot[name] += v
    cnt[name] += 1
total = sum(tot.values())
print("%d kernels, %.3f ms" % (sum(cnt.values()), total / 1e3))
for name, v in sorted(tot.items(), key=lambda kv: -kv[1])[:40]:
    print("%9.1f us %5.1f%% %4d  %s" % (v, 100 * v / total, cnt[name], name))
