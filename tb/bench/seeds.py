"""Seeded stimulus generators of the cocotb benches.

cocotb derives each test's ``cocotb.RANDOM_SEED`` from the regression seed
(``COCOTB_RANDOM_SEED``, printed at start; ``SEED=N`` replays a run, ``tb.runner.run_sim``)
and the test's name.
"""
from __future__ import annotations

import random

import cocotb
import torch


def seeded() -> tuple[torch.Generator, random.Random]:
    """A ``torch.Generator`` (seed ``cocotb.RANDOM_SEED mod 2**63``: torch wants a signed 64-bit
    seed) and a ``random.Random`` (seed ``cocotb.RANDOM_SEED``) for this test; the seed is logged."""
    seed = cocotb.RANDOM_SEED
    cocotb.log.info("stimulus seed %d (cocotb's per-test seed; replay with SEED=<global seed>)", seed)
    return torch.Generator().manual_seed(seed % (1 << 63)), random.Random(seed)
