#!/usr/bin/env python3
"""Counts every test a meson run made, TAP subtests included, from the
testlog.json files given, and prints one line: 'N passed, N failed'.

Test programs print TAP, one line per case ("ok 3 - name", "not ok 4 -
name", "ok 5 - name # SKIP why"); a program that printed no TAP counts as
one test.  Skips are counted apart, on a line of their own before the total.
"""
import json
import re
import sys

TAP = re.compile(r"^(not ok|ok)\b(.*)$")


def count(path):
    passed = failed = skipped = 0
    try:
        lines = open(path).read().splitlines()
    except OSError:
        print(f"{path}: no test log (did the build fail?)", file=sys.stderr)
        return 0, 1, 0
    for line in lines:
        if not line.strip():
            continue
        t = json.loads(line)
        out = t.get("stdout") or ""
        tap = [TAP.match(l) for l in out.splitlines()]
        tap = [m for m in tap if m and not m.group(2).startswith(" - tests")]
        result = t.get("result")
        if tap:
            for m in tap:
                if m.group(1) == "not ok":
                    failed += 1
                elif "# SKIP" in m.group(2) or "# skip" in m.group(2):
                    skipped += 1
                else:
                    passed += 1
            if result not in ("OK", "SKIP", "EXPECTEDFAIL") and not any(m.group(1) == "not ok" for m in tap):
                failed += 1  # crashed after its last TAP line
        elif result == "SKIP":
            skipped += 1
        elif result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        else:
            failed += 1
    return passed, failed, skipped


def main():
    p = f = s = 0
    for path in sys.argv[1:]:
        a, b, c = count(path)
        print(f"{path}: {a} passed, {b} failed, {c} skipped", file=sys.stderr)
        p, f, s = p + a, f + b, s + c
    print(f"skipped: {s}")
    print(f"{p} passed, {f} failed")
    return 1 if f else 0


if __name__ == "__main__":
    sys.exit(main())
