"""Handshake stress shared by the stream benches: pause patterns for cocotbext-axi.

Every stream bench runs its stream test in the variants of :data:`HANDSHAKE_VARIANTS`:
no idle and no backpressure once, then {idle, backpressure, both} for every pattern kind of
:data:`PATTERNS`. A pattern is what cocotbext-axi's ``set_pause_generator`` takes: an
endless iterator, a true value pauses the driver for that clock cycle (an
``AxiStreamSource`` deasserts tvalid: input idle; an ``AxiStreamSink`` deasserts tready:
output backpressure).

Pattern kinds (:func:`pause_generator`):

* ``fixed3of4``: paused 3 cycles of every 4 (``1, 1, 1, 0`` repeated): the slowest regular
  partner, and every phase of a block's internal schedule meets a stall after 4 frames at most;
* ``random``: every cycle paused with probability ``p``, from a ``random.Random`` seeded
  from cocotb's per-test seed (:func:`stream_rng` prints it; ``SEED=N`` replays the run);
* ``burst``: a fixed 12-cycle pattern of long and short stalls (``1,1,1,0,1,0,0,1,1,1,1,0``).
"""
from __future__ import annotations

import itertools
import logging
import random
from collections.abc import Iterator

import cocotb

PATTERNS = ("fixed3of4", "random")  # the kinds every stream bench runs
FIXED_3_OF_4 = (1, 1, 1, 0)
BURST = (1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 0)


def handshake_variants(patterns: tuple[str, ...] = PATTERNS) -> list[tuple[bool, bool, str]]:
    """``(idle, backpressure, pattern)`` for ``cocotb.parametrize``: no stall once (pattern
    ``none``), then idle only, backpressure only and both, for each kind in ``patterns``."""
    variants = [(False, False, "none")]
    for kind in patterns:
        variants += [(True, False, kind), (False, True, kind), (True, True, kind)]
    return variants


HANDSHAKE_VARIANTS = handshake_variants()
# the three names to unpack in cocotb.parametrize((HANDSHAKE_NAMES, HANDSHAKE_VARIANTS))
HANDSHAKE_NAMES = ("idle", "backpressure", "pattern")


def pause_generator(kind: str, rng: random.Random | None = None, p: float = 0.5) -> Iterator[int]:
    """An endless pause pattern for cocotbext-axi's ``set_pause_generator``.

    Args:
        kind: ``fixed3of4``, ``random`` or ``burst`` (module docstring).
        rng: the seeded generator of a ``random`` pattern (required for it, unused otherwise).
        p: pause probability per cycle of a ``random`` pattern.

    Raises:
        ValueError: an unknown kind, or ``random`` without ``rng``.
    """
    if kind == "fixed3of4":
        return itertools.cycle(FIXED_3_OF_4)
    if kind == "burst":
        return itertools.cycle(BURST)
    if kind == "random":
        if rng is None:
            raise ValueError("a random pause pattern needs a seeded random.Random")
        return (int(rng.random() < p) for _ in itertools.count())
    raise ValueError(f"unknown pause pattern {kind!r} (fixed3of4, random, burst)")


def stream_rng(log: logging.Logger | None = None) -> random.Random:
    """A ``random.Random`` seeded from cocotb's per-test seed (derived from
    ``COCOTB_RANDOM_SEED`` and the test name), seed logged: ``SEED=<global seed>`` replays."""
    seed = cocotb.RANDOM_SEED
    (log or cocotb.log).info("pause pattern seed %d (cocotb per-test seed; replay with SEED=<global seed>)",
                             seed)
    return random.Random(seed)


def set_pause(channel, generator: Iterator[int] | None) -> None:
    """``channel.set_pause_generator(generator)``; with None, also end a pause in progress:
    cocotbext-axi only stops the generator and keeps its last value, so a channel stopped
    mid-pause would stay paused for good."""
    channel.set_pause_generator(generator)
    if generator is None:
        channel.pause = False


def set_pauses(source, sink, idle: bool, backpressure: bool, pattern: str = "random",
               rng: random.Random | None = None, p_idle: float = 0.5, p_bp: float = 0.5,
               log: logging.Logger | None = None) -> None:
    """Pause generators on a cocotbext-axi ``source`` (idle) and ``sink`` (backpressure).

    ``idle``/``backpressure`` False: that side runs without pauses. ``pattern``: a kind of
    :func:`pause_generator`; both sides share ``rng`` for ``random`` (a new one from
    :func:`stream_rng` when None); ``p_idle``/``p_bp`` are their pause probabilities.
    """
    if pattern == "random" and (idle or backpressure) and rng is None:
        rng = stream_rng(log)
    set_pause(source, pause_generator(pattern, rng, p_idle) if idle else None)
    set_pause(sink, pause_generator(pattern, rng, p_bp) if backpressure else None)
    (log or cocotb.log).info("handshakes: idle %s, backpressure %s, pattern %s", idle, backpressure,
                             pattern if idle or backpressure else "none")


def variant_name(idle: bool, backpressure: bool, pattern: str) -> str:
    """``idle+backpressure/fixed3of4`` etc. for failure messages."""
    sides = "+".join(s for s, on in (("idle", idle), ("backpressure", backpressure)) if on) or "no stalls"
    return sides if not (idle or backpressure) else f"{sides}/{pattern}"


def sequence_errors(expected: list, got: list, what: str = "result", max_msgs: int = 12) -> list[str]:
    """Messages for lost, duplicated, reordered or wrong frames: ``got`` must equal
    ``expected`` element for element. A wrong frame equal to another index's expected frame
    is named (duplicate / out of order), a short or long list by its count."""
    errors = []
    if len(got) != len(expected):
        errors.append(f"{len(got)} {what} frames received, expected {len(expected)} "
                      f"({'lost' if len(got) < len(expected) else 'extra'} frames)")
    index = {}
    for k, e in enumerate(expected):
        index.setdefault(repr(e), []).append(k)
    for n, (e, g) in enumerate(zip(expected, got)):
        if e == g:
            continue
        others = [k for k in index.get(repr(g), []) if k != n]
        hint = f" (what {what} {others[0]} should give: duplicated or reordered)" if others else ""
        errors.append(f"{what} {n}: expected {e}, actual {g}{hint}")
        if len(errors) >= max_msgs:
            errors.append("... more differences not listed")
            break
    return errors
