"""Parameter sets and real images for the benches: the trained export, seeded random
networks, the stress set, export folders shared by pytest-xdist workers, and the
Fashion-MNIST test split (loaded once per process)."""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
from pathlib import Path

import torch
from filelock import FileLock

from model.data import CLASSES, load_images
from model.network import LAYER, LAYER_NAMES
from model.params import axil_writes, load_params, write_params
from model.quantize import check_export_dir
from model.reference import LayerParams, random_layer_params
from tb.runner import DEFAULT_PARAMS, SIM_BUILD


def random_network(gen: torch.Generator, base: dict[str, LayerParams] | None = None,
                   layers=LAYER_NAMES) -> dict[str, LayerParams]:
    """Random legal parameters for ``layers`` (the others are taken from ``base``).

    Zero points are chained (a layer's zp_in = the previous layer's zp_out). conv1's zp_in is
    the image zero point 0 for a whole random network (``base`` None) and random when conv1
    is overwritten on top of ``base`` (exercises the padding value = zp_in).
    """
    params = dict(base or {})
    prev_zp_out = None
    for name in LAYER_NAMES:
        if name in layers:
            layer = LAYER[name]
            if name == "conv1":
                zp_in = None if base else 0
            else:
                zp_in = prev_zp_out
            params[name] = random_layer_params(name, layer.weight_shape, layer.relu, layer.padding, gen=gen,
                                               zp_in=zp_in)
        prev_zp_out = params[name].zp_out
    return params


def random_params_dir() -> Path:
    """A fixed chained random parameter set (seed 1) in ``sim_build/random_export``."""
    out = (SIM_BUILD / "random_export").resolve()
    if not (out / "manifest.json").is_file():
        write_params(random_network(torch.Generator().manual_seed(1)), out,
                     extra={"note": "random parameters (tb.bench.paramsets), not a trained model"})
    return out


def resolve_params_dir() -> Path:
    """``$PARAMS`` (``random``: :func:`random_params_dir`), else the trained export if it
    exists, else the random set. The folder is checked before anything is built
    (``model.quantize.check_export_dir``: manifest, every .mem file's value count and sha256,
    shapes, values, quantized_state_dict.pt); Verilator's ``$readmemh`` would only warn.

    Raises:
        model.params.ParamsError, model.net.CheckpointError: one line naming the bad file.
    """
    env = os.environ.get("PARAMS", "")
    if env == "random":
        path = random_params_dir()
    elif env:
        path = Path(env).resolve()
    elif (DEFAULT_PARAMS / "manifest.json").is_file():
        path = DEFAULT_PARAMS.resolve()
    else:
        path = random_params_dir()
    check_export_dir(path)
    return path


@functools.lru_cache(maxsize=None)
def cached_params(path: str) -> dict[str, LayerParams]:
    """``load_params`` once per simulation (verifying the sha256 of ~250 kB of .mem takes seconds)."""
    return load_params(path)


@functools.lru_cache(maxsize=1)
def _test_split():
    return load_images(train=False)


def load_test_images(offset: int, count: int):
    """(images uint8 [count, 28, 28], labels, class names) of the Fashion-MNIST test split."""
    images, labels = _test_split()
    if offset < 0 or count < 1 or offset + count > len(images):
        raise ValueError(f"images {offset}..{offset + count - 1} are outside the test split (0..{len(images) - 1})")
    return images[offset:offset + count], labels[offset:offset + count], CLASSES


def export_once(name: str, params: dict, note: str) -> Path:
    """``params`` exported (``model.params.write_params``) to ``sim_build/<name>_<content hash>``
    once: pytest-xdist workers share the folder (a file lock, a temporary folder renamed into
    place), and a changed definition gets a new folder instead of a half-rewritten one."""
    digest = hashlib.sha1()
    for layer in sorted(params):
        lp = params[layer]
        digest.update(repr((layer, lp.zp_in, lp.zp_out, lp.relu, lp.padding)).encode())
        for t in (lp.weight, lp.bias_q, lp.m24, lp.shift):
            digest.update(t.numpy().tobytes())
    out = (SIM_BUILD / f"{name}_{digest.hexdigest()[:10]}").resolve()
    if (out / "manifest.json").is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out) + ".lock"):
        if not (out / "manifest.json").is_file():
            tmp = out.with_name(f"{out.name}.tmp{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            write_params(params, tmp, extra={"note": note})
            os.replace(tmp, out)
    return out


def stress_params_dir() -> Path:
    """A parameter set that drives every requant corner in every layer: the fixed random
    network of :func:`random_params_dir` (seed 1) with channel 0's bias at +2^25 (|acc + bias| >= 2^24,
    clamped high), channel 1's at -2^25 (clamped low), and channel 2 an exact rounding tie on
    every output (zero weights, bias 1, scale m24 / 2^shift = 2^23 / 2^24: y = 0.5 -> 0 half
    to even, 1 half away). Written to ``sim_build/stress_export`` (no torch model for it)."""
    params = random_network(torch.Generator().manual_seed(1))
    for p in params.values():
        p.bias_q[0], p.bias_q[1] = 1 << 25, -(1 << 25)
        p.weight[2] = 0
        p.bias_q[2], p.m24[2], p.shift[2] = 1, 1 << 23, 24
    return export_once("stress_export", params, "stress parameters (tb.bench.paramsets), not a trained model")


def param_set_writes(params_dir: Path) -> list[tuple[int, int]]:
    """Every AXI4-Lite write that loads the parameter set in ``params_dir``."""
    params = load_params(params_dir)
    return [w for name in LAYER_NAMES for w in axil_writes(params[name])]
