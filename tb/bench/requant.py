"""Directed requant vectors: the corners of ``hdl/requant.sv`` (rounding ties at each of its
three rounding steps, carries into a new bit, |x| near 2^31 and 2^32, saturation, ReLU clamp,
zero points 0/255, shift 24/62, m24 = 2^23 and 2^24 - 1), for the requant unit's bench and
the requant probe networks of the regression (:mod:`tb.bench.probes`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


@dataclass(frozen=True)
class Vec:
    """One requant input and its settings.

    Attributes:
        acc, bias: int32 each; the unit requantizes x = acc + bias (|x| <= 2^32).
        m24: multiplier, 2^23 <= m24 < 2^24.
        shift: right shift, 24..62 (scale m24 / 2^shift).
        zp: output zero point, 0..255.
        relu: clamp below at the zero point.
        note: which corner the vector is for.
    """
    acc: int
    bias: int
    m24: int
    shift: int
    zp: int
    relu: bool
    note: str = ""


def _ri(gen: torch.Generator, lo: int, hi: int) -> int:
    """Uniform integer in [lo, hi] (inclusive)."""
    return int(torch.randint(lo, hi + 1, (1,), generator=gen, dtype=torch.int64))


def _split(x: int, gen: torch.Generator) -> tuple[int, int]:
    """acc, bias (both int32) with acc + bias == x (|x| <= 2**32)."""
    lo = max(INT32_MIN, x - INT32_MAX)
    hi = min(INT32_MAX, x - INT32_MIN)
    acc = _ri(gen, lo, hi)
    return acc, x - acc


def _shift_for(mag: int) -> int:
    """Shift putting |x*m24| / 2**shift around 64..255."""
    return min(62, max(24, 24 + mag.bit_length() - 7))


def directed_vectors(gen: torch.Generator) -> list[Vec]:
    """The directed corners (see the module doc), in a fixed order; ``gen`` draws the free
    choices (acc/bias splits, some m24 values and zero points), so a seed fixes the list."""
    vecs: list[Vec] = []

    def add(x_or_pair, m24, shift, zp=128, relu=False, note=""):
        acc, bias = x_or_pair if isinstance(x_or_pair, tuple) else _split(x_or_pair, gen)
        vecs.append(Vec(acc, bias, m24, shift, zp, relu, note))

    m_lo, m_hi = 1 << 23, (1 << 24) - 1
    # 1) x ties: |x| has 24+e bits, dropped e bits == exactly half; kept part even and odd.
    for e in range(1, 10):
        for kept in ((1 << 23) + 2, (1 << 23) + 3, (1 << 24) - 2, (1 << 24) - 1):
            mag = (kept << e) | (1 << (e - 1))
            if mag > (1 << 32):
                continue
            for sign in (1, -1):
                for m24 in (m_lo, m_hi, _ri(gen, m_lo, m_hi)):
                    add(sign * mag, m24, _shift_for(mag), note=f"x-tie e={e} kept={kept:#x}")
                # just above / below the tie
                add(sign * (mag + 1), m_lo, _shift_for(mag), note="x-tie+1")
                add(sign * (mag - 1), m_lo, _shift_for(mag), note="x-tie-1")
    for x in ((1 << 24) + 1, (1 << 24) + 3, (1 << 25) - 1, (1 << 32) - 1, (1 << 32) - 256,
              (1 << 32) - 384, (1 << 32) - 128, (1 << 31) + 64, (1 << 31) + 192):
        if x <= (1 << 32) - 2:
            add(x, m_hi, _shift_for(x), note="x carry/tie")
        add(-x, m_hi, _shift_for(x), note="x carry/tie")
    # 2) |x| >= 2**24, near 2**31 and 2**32 (including the extreme sums).
    for pair in ((INT32_MAX, INT32_MAX), (INT32_MIN, INT32_MIN), (INT32_MIN, INT32_MAX),
                 (INT32_MAX, 0), (INT32_MIN, 0), (0, INT32_MIN), (INT32_MAX, 1), (INT32_MIN, -1),
                 (1 << 30, 1 << 30), (-(1 << 30), -(1 << 30)), ((1 << 24), 0), (-(1 << 24), 0),
                 ((1 << 24) - 1, 0), ((1 << 24) - 1, 1), (INT32_MIN, 1 << 24)):
        mag = abs(pair[0] + pair[1])
        for m24 in (m_lo, m_hi):
            for shift in (24, 62, _shift_for(mag), _shift_for(mag) + 1, _shift_for(mag) - 3):
                for zp, relu in ((0, False), (255, False), (128, True), (7, False)):
                    add(pair, m24, min(62, max(24, shift)), zp, relu, "x extreme")
    # 3) p ties: x exact (< 2**24), p = x*m24 has 24+e bits and its dropped e bits are half.
    for e in range(1, 24):
        found = {0: 0, 1: 0}
        for _ in range(400):
            if found[0] >= 2 and found[1] >= 2:
                break
            m24 = _ri(gen, m_lo, m_hi) | 1  # odd -> invertible mod 2**e
            c = ((1 << (e - 1)) * pow(m24, -1, 1 << e)) % (1 << e)
            lo = -(-(1 << (23 + e)) // m24)
            hi = ((1 << (24 + e)) - 1) // m24
            x = lo + ((c - lo) % (1 << e))
            if x > hi or x >= (1 << 24):
                continue
            p = x * m24
            assert p.bit_length() == 24 + e and p % (1 << e) == 1 << (e - 1)
            par = (p >> e) & 1
            if found[par] >= 2:
                continue
            found[par] += 1
            for sign in (1, -1):
                add(sign * x, m24, _shift_for(p >> 24), note=f"p-tie e={e} par={par}")
                add(sign * x, m24, 24 + e, note=f"p-tie e={e} par={par} s")
    # p carrying into a new bit: (2**24-1)**2 and neighbours
    for x in ((1 << 24) - 1, (1 << 24) - 2, (1 << 25) - 2, (1 << 32) - 512):
        for sign in (1, -1):
            add(sign * x, m_hi, _shift_for(x * m_hi >> 24), note="p carry")
            add(sign * x, m_hi, 48, note="p carry s48")
    # 4) y ties: x = +-2**k, p = m24 << k exact, m24 = (q << j) | (1 << (j-1)).
    for j in range(1, 24):
        for q_par in (0, 1):
            qmin = 1 << (23 - j)
            q = qmin + ((q_par - qmin) % 2) + 2 * _ri(gen, 0, max(0, (qmin >> 1) - 1))
            if q >= 2 * qmin:  # j = 23 has only q = 1
                continue
            m24 = (q << j) | (1 << (j - 1))
            assert m_lo <= m24 <= m_hi
            for k in sorted({max(0, 24 - j), max(0, 24 - j) + 3, 31, 32}):
                if j + k > 62 or k > 32:
                    continue
                for sign in (1, -1):
                    if sign * (1 << k) > INT32_MAX * 2:
                        continue
                    add(sign * (1 << k), m24, j + k, zp=128, note=f"y-tie j={j} q={q}")
                    add(sign * (1 << k), m24, j + k, zp=0, relu=True, note="y-tie relu")
    # shift 24 with m24 = 2**23: y = x / 2 exactly, ties for every odd x
    for x in range(-300, 301):
        add(x, m_lo, 24, zp=_ri(gen, 0, 255), relu=bool(x & 2), note="x/2")
    # 5) saturation, ReLU, zero points, shift bounds, all around the clamp boundaries.
    for zp in (0, 1, 127, 128, 254, 255):
        for relu in (False, True):
            for y in (-300, -256, -255, -zp - 1, -zp, -zp + 1, -1, 0, 1, 254 - zp, 255 - zp,
                      256 - zp, 255, 256, 511, 1 << 20):
                # x = 2 * y with m24 = 2**23, shift = 24 gives exactly y
                add(2 * y, m_lo, 24, zp, relu, note="clamp")
                add(2 * y + 1, m_lo, 24, zp, relu, note="clamp tie")
            for shift in (24, 62):
                for pair in ((INT32_MAX, INT32_MAX), (INT32_MIN, INT32_MIN), (0, 0), (1, 0), (-1, 0)):
                    add(pair, m_hi, shift, zp, relu, note="shift bound")
    return vecs
