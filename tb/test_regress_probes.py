"""Probe networks through the plain regression harness: every corner of the requant instances,
the MAC arrays, the pools and the argmax, made visible at the fc3 outputs (:mod:`tb.bench.probes`).

The harness is built as a plain Verilator binary (:func:`tb.bench.harness.build_harness`,
``plain=True``: no cocotb, a run costs the simulation alone) without preload, so its
parameter memories start at zero and each probe network loads in its nonzero words only.
"""
from __future__ import annotations

from model.data import load_images
from tb.bench.harness import build_harness, make_run, run
from tb.bench.probes import (POOL1_PROBE_STALLS, PROBE_IMAGE, check_directed_expectations, directed_probes,
                             pool1_probe_dirs, requant_probe_dirs)


def test_regress_requant_probes(tmp_path):
    """Every requant probe network (:func:`tb.bench.probes.requant_probe_dirs`: 1,160 requant
    corner vectors plus the int32 extremes at the largest and smallest scales, for each zero
    point, of the conv1, conv2 and fc requant instances made visible at the fc3 outputs)
    written over AXI4-Lite, one real image each, through the plain Verilator harness (built
    without preload: the memories start at zero, so only nonzero words are written): fc3 equal
    to the reference everywhere; and the probes do show their vectors: nearly every network
    gives a different fc3. Then the directed probes (:func:`tb.bench.probes.directed_probes`:
    rounding ties in every instance, the conv2 and fc3 MAC arrays at unity scale, 33-bit sums),
    whose reference outputs must show what they were built for
    (:func:`tb.bench.probes.check_directed_expectations`)."""
    images, labels = load_images(train=False, offset=PROBE_IMAGE, count=1)
    dirs = requant_probe_dirs()
    runs = [make_run(d.name, d, images, labels, tmp_path, sparse=True) for d in dirs]
    distinct = len({tuple(r.expected[0]) for r in runs})
    assert distinct >= 0.95 * len(runs), f"only {distinct} distinct fc3 outputs from {len(runs)} probe networks"
    directed = [make_run(d.name, d, im, lb, tmp_path, sparse=True) for d, im, lb in directed_probes()]
    directed += [make_run(d.name, d, images, labels, tmp_path, *POOL1_PROBE_STALLS, sparse=True)
                 for d in pool1_probe_dirs()]
    check_directed_expectations(directed)
    runs += directed
    binary = build_harness(plain=True, max_images=16)
    errors = [e for e in (run(binary, r, tmp_path) for r in runs) if e]
    assert not errors, f"{len(errors)} of {len(runs)} probe networks differ:\n  " + "\n  ".join(errors)
