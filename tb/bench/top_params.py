"""Checks of the top's parameter path over AXI4-Lite: layers overwritten with seeded random
parameters, and parameter sets swapped between images (run by
``tb/test_fashion_lenet_accel_params.py`` and the mutation run, ``tb/test_mutants.py``). Each
takes a :class:`tb.bench.top.TB`, resets the DUT first, restores the preloaded parameters
before it returns and raises AssertionError naming the image, layer and set that differed.

Settings (environment): ``OFFSET``, ``PARAM_IMAGES`` (check_axil_params, 3 images from
``OFFSET + 100``), ``RELOAD_IMAGES`` (3, from ``OFFSET + 300``) and ``RELOAD_FC1_ROWS``
(8; ``all``) of check_param_reload.
"""
from __future__ import annotations

import dataclasses
import os
import random
import time

import cocotb
import torch
from cocotb.utils import get_sim_time

from model.network import CSR, LAYER, LAYER_NAMES, param_address
from model.params import axil_writes
from model.reference import LayerParams
from model.settings import env_int
from tb.bench.checks import expected_results, fail_report
from tb.bench.paramsets import load_test_images, random_network
from tb.bench.monitors import run_stages
from tb.bench.stream import sequence_errors
from tb.bench.top import CLOCK_NS, TB, Check


async def check_axil_params(tb: TB) -> None:
    """conv1, conv2 and fc3 entirely overwritten through AXI4-Lite with seeded random parameters
    (``tb.bench.paramsets.random_network``), then ``$PARAM_IMAGES`` images with every stage
    monitored against the reference of the modified set; the preloaded values are restored after."""
    await tb.reset()
    seed = cocotb.RANDOM_SEED % (1 << 63)
    gen = torch.Generator().manual_seed(seed)
    layers = ("conv1", "conv2", "fc3")
    params = random_network(gen, base=tb.params, layers=layers)
    tb.log.info("seed %d: loading random %s through AXI4-Lite (%d writes)", seed, "/".join(layers),
                sum(len(axil_writes(params[n])) for n in layers))
    for name in layers:
        await tb.load_layer(params[name])
    try:
        offset = env_int("OFFSET", 0) + 100
        images, _, _ = load_test_images(offset, env_int("PARAM_IMAGES", 3))
        # stage monitors: a wrong parameter decode shows up at the first affected layer
        errors = await run_stages(tb, params, images, offset)
        assert not errors, f"random {'/'.join(layers)} parameters (seed {seed}): " + fail_report(errors)
    finally:
        for name in layers:  # restore the preload for later tests in this simulation
            await tb.load_layer(tb.params[name])


def layer_writes(p: LayerParams, rows: list[int] | None = None) -> list[tuple[int, int]]:
    """``axil_writes(p)``: the ``(address, data)`` writes of layer ``p``; with ``rows``, only
    those output rows of the weights (every bias, requant and zero-point word is still written)."""
    writes = axil_writes(p)
    if rows is None:
        return writes
    n_in = p.weight[0].numel()
    keep = {param_address(p.name, "weight", o * n_in + i) for o in rows for i in range(n_in)}
    bias = param_address(p.name, "bias", 0)
    return [(a, d) for a, d in writes if a >= bias or a in keep]


def reload_set(gen: torch.Generator, base: dict[str, LayerParams], fc1_rows: list[int]):
    """P1 for :func:`check_param_reload`: every layer random and chained (conv1 with a random
    input zero point), except fc1's weights, which are ``base``'s outside ``fc1_rows``."""
    p1 = random_network(gen, base=base, layers=LAYER_NAMES)
    w = base["fc1"].weight.clone()
    w[fc1_rows] = p1["fc1"].weight[fc1_rows]
    p1["fc1"] = dataclasses.replace(p1["fc1"], weight=w)
    return p1


async def check_param_reload(tb: TB) -> None:
    """Parameters swapped over AXI4-Lite between images: image A with the preload P0, then a
    random set P1 written (conv1, conv2, fc2, fc3 entirely; fc1's bias, requant and zero points
    and the weights of ``$RELOAD_FC1_ROWS`` neurons, ``all`` = every one), image B vs the
    reference of P1, P0 restored (the same addresses), image C vs P0, and so on for
    ``$RELOAD_IMAGES`` images; P0 restored at the end."""
    await tb.reset()
    seed = cocotb.RANDOM_SEED % (1 << 63)
    gen, rng = torch.Generator().manual_seed(seed), random.Random(seed)
    rows_env = os.environ.get("RELOAD_FC1_ROWS", "8")
    neurons = range(LAYER["fc1"].out_channels)
    fc1_rows = list(neurons) if rows_env == "all" else sorted(rng.sample(neurons, int(rows_env)))
    p0 = tb.params
    sets = {"P0": p0, "P1": reload_set(gen, p0, fc1_rows)}
    writes = {name: [w for layer in LAYER_NAMES
                     for w in layer_writes(ps[layer], fc1_rows if layer == "fc1" else None)]
              for name, ps in sets.items()}
    tb.log.info("seed %d: P1 = random conv1/conv2/fc2/fc3 and fc1 neurons %s; %d writes per swap",
                seed, fc1_rows, len(writes["P1"]))
    count = env_int("RELOAD_IMAGES", 3)  # P0, P1, P0: two swaps of ~17k writes, ~20 s each
    offset = env_int("OFFSET", 0) + 300
    images, _, _ = load_test_images(offset, count)
    expected = {name: expected_results(ps, images) for name, ps in sets.items()}
    assert any(a != b for a, b in zip(expected["P0"], expected["P1"])), \
        "P0 and P1 give the same results on every image: the test could not see a missed reload"
    loaded, errors = "P0", []
    try:
        for n in range(count):
            name = ("P0", "P1")[n % 2]
            if name != loaded:
                status = await tb.read(CSR["STATUS"])
                assert status[0] & 1 == 0, f"before image {n}: STATUS.busy set, parameters cannot be written"
                sim0, wall0 = get_sim_time("ns"), time.monotonic()
                await tb.write_all(writes[name], f"{name} before image {n}")
                tb.log.info("%s loaded: %d writes in %d cycles, %.1f s wall", name, len(writes[name]),
                            round((get_sim_time("ns") - sim0) / CLOCK_NS), time.monotonic() - wall0)
                loaded = name
            frames, _ = await tb.run_images(images[n:n + 1], read_csrs=False)
            msgs = sequence_errors(expected[name][n:n + 1], frames, "image")
            errors += [f"image {n} (test set index {offset + n}) with {name}: {m}" for m in msgs]
            if not msgs:
                tb.log.info("image %d with %s: bit-exact (class %d)", offset + n, name, frames[0][0])
        assert tb.sink.empty(), "result beats beyond the images'"
        assert not errors, fail_report(errors, "vs model.reference.forward of the loaded set")
    finally:
        if loaded != "P0":  # restore the preload for later tests in this simulation
            await tb.write_all(writes["P0"], "P0 restore")


CHECKS = (
    Check("test_axil_params", check_axil_params),
    Check("test_param_reload", check_param_reload),
)
