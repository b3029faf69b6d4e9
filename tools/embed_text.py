#!/usr/bin/env python3
"""embed_text.py IN OUT NAME - writes OUT, a C header holding the text of IN
as `static const char NAME[]`: the session schema (sessions/schema.sql), the
device code NVRTC compiles fused kernels from (kernels/cuda/math.cuh)."""
import sys

src, dst, name = sys.argv[1:4]
with open(src, encoding="utf-8") as f:
    text = f.read()
lines = ["/* generated from %s by embed_text.py: do not edit */" % src.split("/")[-1],
         "static const char %s[] =" % name]
for line in text.splitlines():
    esc = line.replace("\\", "\\\\").replace('"', '\\"')
    lines.append('\t"%s\\n"' % esc)
lines[-1] += ";"
with open(dst, "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
