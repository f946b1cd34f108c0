"""cocotb tests of ``hdl/requant.sv`` against ``model.reference.requantize``.

Stimulus: seeded random vectors (>= 20,000) streamed back to back under random output
backpressure and input idles, plus directed corners (rounding ties at each of the three
rounding steps, carries into a new bit, |x| near 2**31 and 2**32, saturation, ReLU
clamp, zero points 0/255, shift 24/62, m24 = 2**23 and 2**24-1). Every result is
checked in order, with its tag, against the reference; AXI-style stability of a
stalled output beat is checked as well.

Replay a run with ``SEED=<seed printed by cocotb>``.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass

import cocotb
import pytest
import torch
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge, with_timeout

from model.reference import requantize, round_significand

LATENCY = 4  # documented in hdl/requant.sv
M32 = 0xFFFFFFFF
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


@dataclass(frozen=True)
class Vec:
    acc: int
    bias: int
    m24: int
    shift: int
    zp: int
    relu: bool
    note: str = ""


def expected_codes(vecs: list[Vec]) -> list[int]:
    """Reference results; ``requantize`` takes scalar zp_out/relu, so group by them."""
    out = [0] * len(vecs)
    groups: dict[tuple[int, bool], list[int]] = {}
    for i, v in enumerate(vecs):
        groups.setdefault((v.zp, v.relu), []).append(i)
    for (zp, relu), idx in groups.items():
        res = requantize(
            torch.tensor([vecs[i].acc for i in idx], dtype=torch.int64),
            torch.tensor([vecs[i].bias for i in idx], dtype=torch.int64),
            torch.tensor([vecs[i].m24 for i in idx], dtype=torch.int64),
            torch.tensor([vecs[i].shift for i in idx], dtype=torch.int64),
            zp, relu,
        )
        for i, r in zip(idx, res.tolist()):
            out[i] = int(r)
    return out


class TB:
    """Clock, reset, and a cycle-accurate driver/monitor for the valid/ready ports."""

    def __init__(self, dut):
        self.dut = dut
        self.log = dut._log
        self.tag_width = len(dut.tag_i)
        self.tag_mask = (1 << self.tag_width) - 1
        cocotb.start_soon(Clock(dut.clk_i, 10, unit="ns").start())
        dut.in_valid_i.value = 0
        dut.out_ready_i.value = 0
        self._drive_data(Vec(0, 0, 1 << 23, 24, 0, False), 0)

    async def reset(self):
        self.dut.rst_ni.value = 0
        await ClockCycles(self.dut.clk_i, 3)
        self.dut.rst_ni.value = 1
        await RisingEdge(self.dut.clk_i)

    def _drive_data(self, v: Vec, tag: int):
        d = self.dut
        d.acc_i.value = v.acc & M32
        d.bias_i.value = v.bias & M32
        d.m24_i.value = v.m24
        d.shift_i.value = v.shift
        d.zp_out_i.value = v.zp
        d.relu_i.value = int(v.relu)
        d.tag_i.value = tag & self.tag_mask

    async def stream(self, vecs: list[Vec], idle: float = 0.0, stall: float = 0.0,
                     rng: random.Random | None = None) -> list[tuple[int, int]]:
        """Send ``vecs`` (tag = index) and collect every output beat.

        idle: probability of not offering a new beat in a cycle (in_valid low);
        stall: probability of out_ready low in a cycle.

        Returns:
            received ``[(code, tag)]``; ``self.acc_cycles``/``self.out_cycles`` hold the
            cycle of each input/output handshake.
        """
        d = self.dut
        rng = rng or random.Random(0)
        received: list[tuple[int, int]] = []
        out_cycles: list[int] = []
        acc_cycles: list[int] = []
        n = len(vecs)
        nxt = 0
        pending = False  # in_valid is high with vecs[nxt] and must stay until accepted
        held = None       # (code, tag) of a stalled output beat: must not change
        cycle = 0
        limit = 20 * n + 200
        while len(received) < n:
            await RisingEdge(d.clk_i)
            cycle += 1
            assert cycle < limit, f"timeout: {len(received)}/{n} results after {cycle} cycles"
            if not pending and nxt < n and rng.random() >= idle:
                self._drive_data(vecs[nxt], nxt)
                pending = True
            d.in_valid_i.value = int(pending)
            ready = rng.random() >= stall
            d.out_ready_i.value = int(ready)
            await ReadOnly()
            if pending and int(d.in_ready_o.value):
                acc_cycles.append(cycle)
                nxt += 1
                pending = False
            if int(d.out_valid_o.value):
                beat = (int(d.out_o.value), int(d.tag_o.value))
                if held is not None:
                    assert beat == held, f"stalled output beat changed: {held} -> {beat}"
                if ready:
                    received.append(beat)
                    out_cycles.append(cycle)
                    held = None
                else:
                    held = beat
            else:
                assert held is None, "out_valid dropped while the beat was stalled"
        # Nothing more may come out: no duplicated or phantom beats.
        await RisingEdge(d.clk_i)
        d.in_valid_i.value = 0
        d.out_ready_i.value = 1
        for _ in range(LATENCY + 2):
            await ReadOnly()
            assert not int(d.out_valid_o.value), "extra output beat after the last result"
            await RisingEdge(d.clk_i)
        self.acc_cycles, self.out_cycles = acc_cycles, out_cycles
        return received

    def check(self, vecs: list[Vec], received: list[tuple[int, int]], what: str):
        exp = expected_codes(vecs)
        assert len(received) == len(vecs), f"{what}: {len(received)} results for {len(vecs)} inputs"
        bad = []
        for i, ((code, tag), e) in enumerate(zip(received, exp)):
            if tag != (i & self.tag_mask):
                bad.append(f"beat {i}: tag {tag}, expected {i & self.tag_mask} (order/loss)")
            elif code != e:
                v = vecs[i]
                bad.append(f"beat {i} {v.note}: acc={v.acc} bias={v.bias} m24={v.m24:#x} "
                           f"shift={v.shift} zp={v.zp} relu={int(v.relu)}: expected {e}, "
                           f"actual {code}, diff {code - e}")
        assert not bad, f"{what}: {len(bad)} mismatches, first: " + "; ".join(bad[:8])
        self.log.info("%s: %d results match the reference", what, len(vecs))


def seed_gen() -> tuple[int, torch.Generator, random.Random]:
    seed = cocotb.RANDOM_SEED
    # cocotb seeds can exceed int64; torch wants a signed 64-bit seed
    return seed, torch.Generator().manual_seed(seed % (1 << 63)), random.Random(seed)


# --------------------------------------------------------------------------- stimulus

def _ri(gen: torch.Generator, lo: int, hi: int) -> int:
    """Uniform integer in [lo, hi] (inclusive)."""
    return int(torch.randint(lo, hi + 1, (1,), generator=gen, dtype=torch.int64))


def random_vectors(gen: torch.Generator, n: int) -> list[Vec]:
    """Mix of full-range and 'useful' vectors (shift chosen so outputs land in 0..255)."""
    vecs = []
    for _ in range(n):
        kind = _ri(gen, 0, 3)
        if kind == 0:  # anything goes
            acc, bias = _ri(gen, INT32_MIN, INT32_MAX), _ri(gen, INT32_MIN, INT32_MAX)
        else:  # log-uniform magnitude, like real accumulators
            bits = _ri(gen, 0, 31)
            acc = _ri(gen, -(1 << bits), (1 << bits) - 1)
            bias = [0, _ri(gen, -(1 << 20), 1 << 20), _ri(gen, INT32_MIN, INT32_MAX)][kind - 1]
        m24 = _ri(gen, 1 << 23, (1 << 24) - 1)
        if _ri(gen, 0, 3) == 0:
            shift = _ri(gen, 24, 62)
        else:  # y ~ x * 2**(24 - shift) ~ 2**(L - 8 + d) for small d
            shift = min(62, max(24, 24 + abs(acc + bias).bit_length() - 8 + _ri(gen, -3, 3)))
        zp = [0, 255, _ri(gen, 0, 255), _ri(gen, 0, 255)][_ri(gen, 0, 3)]
        vecs.append(Vec(acc, bias, m24, shift, zp, bool(_ri(gen, 0, 1)), "random"))
    return vecs


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


# --------------------------------------------------------------------------- tests

@cocotb.test()
async def test_directed(dut):
    """Directed corners, back to back, no stalls then with stalls."""
    seed, gen, rng = seed_gen()
    tb = TB(dut)
    await tb.reset()
    vecs = directed_vectors(gen)
    # sanity of the corner construction: the x ties really are ties
    xs = torch.tensor([v.acc + v.bias for v in vecs if v.note.startswith("x-tie e")])
    assert (round_significand(xs) != xs).all()
    tb.log.info("seed %d: %d directed vectors", seed, len(vecs))
    tb.check(vecs, await with_timeout(tb.stream(vecs), 5, "ms"), "directed, full rate")
    tb.check(vecs, await with_timeout(tb.stream(vecs, idle=0.3, stall=0.4, rng=rng), 10, "ms"),
             "directed, idle+backpressure")


@cocotb.test()
async def test_random(dut):
    """>= 20,000 seeded random vectors under random output backpressure."""
    seed, gen, rng = seed_gen()
    n = int(os.environ.get("REQUANT_VECTORS", "20000"))
    tb = TB(dut)
    await tb.reset()
    vecs = random_vectors(gen, n)
    tb.log.info("seed %d: %d random vectors", seed, n)
    # back-to-back input, 30% backpressure
    tb.check(vecs, await with_timeout(tb.stream(vecs, stall=0.3, rng=rng), 50, "ms"),
             "random, backpressure")
    # burst-y: long stalls and idles on a slice
    part = vecs[: n // 10]
    tb.check(part, await with_timeout(tb.stream(part, idle=0.5, stall=0.7, rng=rng), 20, "ms"),
             "random, heavy idle+backpressure")


@cocotb.test()
async def test_throughput_latency(dut):
    """No stalls: fixed latency LATENCY and one result per cycle."""
    seed, gen, _ = seed_gen()
    tb = TB(dut)
    await tb.reset()
    assert int(dut.out_valid_o.value) == 0, "out_valid after reset"
    vecs = random_vectors(gen, 200)
    rx = await with_timeout(tb.stream(vecs), 1, "ms")
    tb.check(vecs, rx, "full rate")
    lat = [o - a for a, o in zip(tb.acc_cycles, tb.out_cycles)]
    assert set(lat) == {LATENCY}, f"latencies {sorted(set(lat))}, expected {LATENCY}"
    span = tb.out_cycles[-1] - tb.out_cycles[0] + 1
    assert span == len(vecs), f"{len(vecs)} results took {span} cycles"
    # reset in the middle of a stream flushes the pipeline
    dut.in_valid_i.value = 1
    dut.out_ready_i.value = 0
    await ClockCycles(dut.clk_i, 3)
    dut.in_valid_i.value = 0
    await tb.reset()
    await ReadOnly()
    assert int(dut.out_valid_o.value) == 0, "out_valid after a reset mid-stream"


# --------------------------------------------------------------------------- pytest runner

@pytest.mark.parametrize("tag_width", [1, 16])
def test_requant(tag_width):
    from tb.runner import hdl_sources, run_sim

    run_sim("requant", hdl_sources("requant.sv"), module="tb.test_requant",
            parameters={"TagWidth": tag_width})
