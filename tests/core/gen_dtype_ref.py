#!/usr/bin/env python3
"""Writes the conversion fixtures tests/core/test_dtype.c checks against.

PyTorch is the reference for f32 <-> bf16 and f32 <-> f16 (all 65,536 bit
patterns each way); exact rational arithmetic (fractions.Fraction) is the
reference for f64 -> f16 and f64 -> bf16, which must round once.

Run with PyTorch installed (CPU is enough):  python3 tests/core/gen_dtype_ref.py
The inputs of the f32 -> low cases follow a rule test_dtype.c applies too;
a hash of them is stored so a drift between the two is caught.
"""
import os
import random
import struct
from fractions import Fraction

import numpy as np
import torch

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def fnv1a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def low_to_f32(kind):
    p = np.arange(65536, dtype=np.uint16).view(np.int16)
    t = torch.from_numpy(p.copy()).view(kind).float()
    return t.view(torch.int32).numpy().astype(np.uint32)


def bf16_inputs():
    """(p << 16) | {0, 0x7FFF, 0x8000, 0x8001}: the value, and around the tie."""
    p = np.arange(65536, dtype=np.uint32) << 16
    return np.stack([p, p | 0x7FFF, p | 0x8000, p | 0x8001], axis=1).reshape(-1)


def f16_inputs():
    """For each f16 pattern: its value, and the f32 just below, at and just
    above the midpoint to the next larger magnitude (Inf/NaN: the value 4x)."""
    out = np.zeros((65536, 4), dtype=np.uint32)
    f32 = low_to_f32(torch.float16)
    for h in range(65536):
        x = int(f32[h])
        e = (h >> 10) & 0x1F
        if e == 0x1F:
            out[h] = [x, x, x, x]
            continue
        if e == 0:
            m = h & 0x3FF
            mid = np.float32((m + 0.5) * 2.0**-24)
            if h & 0x8000:
                mid = -mid
            mb = int(np.array([mid], dtype=np.float32).view(np.uint32)[0])
        else:
            mb = x + (1 << 12)
        out[h] = [x, mb - 1, mb, mb + 1]
    return out.reshape(-1)


def to_low(bits, kind):
    t = torch.from_numpy(bits.view(np.float32).copy()).to(kind)
    return t.view(torch.int16).numpy().view(np.uint16)


def exact_round(x: float, mbits: int, ebits: int) -> int:
    """x (finite, not NaN) to a small float with round to nearest even,
    computed with exact rationals."""
    bias = (1 << (ebits - 1)) - 1
    emax = (1 << ebits) - 2 - bias
    sign = 0x8000 if (x < 0 or (x == 0 and str(x).startswith("-"))) else 0
    v = abs(Fraction(x))
    if v == 0:
        return sign
    e = max(v.numerator.bit_length() - v.denominator.bit_length() + 1, 1 - bias)
    while Fraction(2) ** e > v:
        e -= 1
    while Fraction(2) ** (e + 1) <= v:
        e += 1
    e = max(e, 1 - bias)
    q = v / Fraction(2) ** (e - mbits)  # the mantissa, scaled to an integer grid
    n = q.numerator // q.denominator
    r = q - n
    if r > Fraction(1, 2) or (r == Fraction(1, 2) and n & 1):
        n += 1
    if n >= (1 << (mbits + 1)):
        n >>= 1
        e += 1
    if e > emax:
        return sign | (((1 << ebits) - 1) << mbits)
    if n < (1 << mbits):  # subnormal
        return sign | n
    return sign | ((e + bias) << mbits) | (n - (1 << mbits))


def f64_cases():
    rnd = random.Random(1234)
    xs = [0.0, -0.0, 1.0, -1.0, 65504.0, 65519.99999, 65520.0, 65536.0, 2.0**-24, 2.0**-25,
          2.0**-25 * 1.0000001, 3.4028234663852886e38, 1e300, -1e300, 5e-324, 1.0 / 3]
    while len(xs) < 4096:
        kind = rnd.randrange(3)
        if kind == 0:
            xs.append(rnd.uniform(-70000, 70000))
        elif kind == 1:
            xs.append(rnd.choice([-1, 1]) * 2.0 ** rnd.uniform(-30, 20))
        else:  # just around an f16 or bf16 midpoint
            h = rnd.randrange(0x7BFF)
            lo = float(np.array([h], dtype=np.uint16).view(np.float16)[0])
            hi = float(np.array([h + 1], dtype=np.uint16).view(np.float16)[0])
            mid = (lo + hi) / 2
            xs.append(rnd.choice([mid, np.nextafter(mid, 0), np.nextafter(mid, 1e9)]))
    return np.array(xs, dtype=np.float64)


def main():
    os.makedirs(HERE, exist_ok=True)
    low_to_f32(torch.bfloat16).astype("<u4").tofile(os.path.join(HERE, "bf16_to_f32.bin"))
    low_to_f32(torch.float16).astype("<u4").tofile(os.path.join(HERE, "f16_to_f32.bin"))
    for name, inputs, kind in (("f32_to_bf16.bin", bf16_inputs(), torch.bfloat16),
                               ("f32_to_f16.bin", f16_inputs(), torch.float16)):
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(struct.pack("<I", fnv1a(inputs.astype("<u4").tobytes())))
            f.write(to_low(inputs, kind).astype("<u2").tobytes())
    xs = f64_cases()
    with open(os.path.join(HERE, "f64_to_low.bin"), "wb") as f:
        f.write(struct.pack("<I", len(xs)))
        for x in xs:
            f.write(struct.pack("<dHH", x, exact_round(float(x), 10, 5), exact_round(float(x), 7, 8)))


if __name__ == "__main__":
    main()
