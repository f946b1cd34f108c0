#!/usr/bin/env python3
"""CPU baselines: PyTorch float32 and int8 (qnnpack) inference of FashionLeNet on this machine.

Both models are the project's own: the float checkpoint (``model.net.load_checkpoint``) and
the quantized model of the export (``model.quantize.load_quantized``, engine ``qnnpack``),
both made by ``make model``. Inputs are real Fashion-MNIST test images (``model.data``),
converted once to float32 ``[N, 1, 28, 28]`` = pixel / 255 before timing; the quantized model
quantizes that input itself (its ``QuantStub``), as in ``model.train.accuracy``.

Method, for every (model, batch): one *pass* runs the ``images`` test images through the
model in consecutive batches of ``batch`` under ``torch.inference_mode()``; ``warmup``
untimed passes, then ``repeats`` passes, each timed with ``time.perf_counter_ns`` (garbage
collector off). Per-image time of a pass = pass time / ``images``. Reported: the median
over passes, min, quartiles and max (microseconds per image), and images/s at the median.

Usage::

    .venv/bin/python scripts/bench_cpu.py [--threads N] [--repeats 20] [--out reports/bench/cpu.json]

Exit status: 0; 2 on a bad argument or when the checkpoint, the export or the data set is
missing (``error: <one line>`` on stderr naming the ``make`` target that creates it).
"""
from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from model.settings import ArgumentParser, SettingError, check_image_range, print_error

CHECKPOINT = REPO / "model/artifacts/fashion_lenet.pt"
QUANTIZED = REPO / "model/artifacts/export/quantized_state_dict.pt"
OUT = REPO / "reports/bench/cpu.json"


def cpu_model() -> str:
    """The CPU's name from ``/proc/cpuinfo`` (``model name``, else ``Hardware``/``Model``),
    else ``platform.processor()``, else ``"unknown"``."""
    try:
        fields = dict(ln.split(":", 1) for ln in Path("/proc/cpuinfo").read_text().splitlines() if ":" in ln)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
    except OSError:
        fields = {}
    return next((fields[k] for k in ("model name", "Hardware", "Model") if fields.get(k)),
                platform.processor() or "unknown")


def _time_passes(model, x, batch: int, warmup: int, repeats: int) -> list[float]:
    """Run ``warmup`` untimed then ``repeats`` timed passes of ``x`` through ``model`` in
    batches of ``batch``. Returns the microseconds per image of each timed pass."""
    import torch

    chunks = list(torch.split(x, batch))
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            gc.disable()
            t0 = time.perf_counter_ns()
            for c in chunks:
                model(c)
            t1 = time.perf_counter_ns()
            gc.enable()
            if i >= warmup:
                times.append((t1 - t0) / 1e3 / len(x))
    return times


def _summary(us: list[float]) -> dict:
    """Median, quartiles, min and max of per-image times (microseconds), and images/s at
    the median."""
    q1, med, q3 = statistics.quantiles(us, n=4, method="inclusive")
    return {"median": med, "min": min(us), "q1": q1, "q3": q3, "max": max(us),
            "images_per_s": 1e6 / med}


def bench_cpu(checkpoint: Path | str = CHECKPOINT, quantized: Path | str = QUANTIZED,
              batches: tuple[int, ...] = (1, 256), images: int = 256, offset: int = 0,
              warmup: int = 3, repeats: int = 20, threads: int | None = None,
              out: Path | str | None = None, log=None) -> dict:
    """Measure float32 and int8 (qnnpack) inference of FashionLeNet on this CPU.

    Args:
        checkpoint: float state_dict (``make model``).
        quantized: ``quantized_state_dict.pt`` of the export (``make model``).
        batches: batch sizes; each must divide ``images``.
        images: number of test images per pass (images ``offset .. offset + images - 1``).
        warmup: untimed passes per (model, batch), >= 0.
        repeats: timed passes per (model, batch), >= 2.
        threads: ``torch.set_num_threads`` for the run (restored afterwards); None keeps
            torch's default (its intra-op pool; QNNPACK's pthreadpool follows it).
        out: JSON file to write (folders created), or None.
        log: called with the table header, then each finished row's line (e.g. ``print``),
            or None.

    Returns:
        dict: ``torch_version``, ``cpu_model``, ``logical_cpus``, ``threads``,
        ``threads_default`` (bool), ``engine``, ``loadavg_start`` (1/5/15 min),
        ``images``, ``offset``, ``warmup``, ``repeats``, ``checkpoint``, ``quantized``,
        ``agreement`` {``images``, ``same_prediction``, ``fraction``, ``float_correct``,
        ``int8_correct``} on the timed images, and ``results``: one dict per (model, batch)
        with ``model`` ("float32" | "int8_qnnpack"), ``batch``, ``us_per_image``
        {``median``, ``min``, ``q1``, ``q3``, ``max``, ``images_per_s``} (microseconds per
        image; images/s at the median) and ``passes_us_per_image`` (every timed pass).

    Raises:
        SettingError: bad counts, batches or image range.
        FileNotFoundError / model.net.CheckpointError: checkpoint or export missing or bad.
        model.data.DatasetMissingError: no Fashion-MNIST.
    """
    if repeats < 2 or warmup < 0:
        raise SettingError(f"--repeats {repeats} --warmup {warmup}: need repeats >= 2, warmup >= 0")
    check_image_range(offset, images, label=f"--offset {offset} --images {images}")
    bad = [b for b in batches if b < 1 or images % b]
    if bad or not batches:
        raise SettingError(f"--batches {bad or batches}: every batch must be >= 1 and divide --images {images}")
    if threads is not None and threads < 1:
        raise SettingError(f"--threads {threads}: at least 1")

    import warnings

    import torch

    from model.data import load_images
    from model.net import load_checkpoint
    from model.quantize import load_quantized, set_engine

    with warnings.catch_warnings():  # PyTorch's deprecation notices (filtered in pytest.ini too)
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
        warnings.filterwarnings("ignore", message="TypedStorage is deprecated")
        fmodel = load_checkpoint(checkpoint).eval()
        qmodel = load_quantized(quantized).eval()
    x_u8, labels = load_images(train=False, offset=offset, count=images)
    x = x_u8.unsqueeze(1).float() / 255.0
    set_engine()
    saved_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        res = {
            "torch_version": torch.__version__, "cpu_model": cpu_model(), "logical_cpus": os.cpu_count(),
            "threads": torch.get_num_threads(), "threads_default": threads is None,
            "engine": torch.backends.quantized.engine, "loadavg_start": list(os.getloadavg()),
            "images": images, "offset": offset, "warmup": warmup, "repeats": repeats,
            "checkpoint": str(checkpoint), "quantized": str(quantized),
        }
        with torch.inference_mode():
            pf, pq = fmodel(x).argmax(1), qmodel(x).argmax(1)
        same = int((pf == pq).sum())
        res["agreement"] = {"images": images, "same_prediction": same, "fraction": same / images,
                            "float_correct": int((pf == labels).sum()), "int8_correct": int((pq == labels).sum())}
        res["results"] = []
        if log:
            log(HEADER)
        for name, m in (("float32", fmodel), ("int8_qnnpack", qmodel)):
            for b in batches:
                us = _time_passes(m, x, b, warmup, repeats)
                row = {"model": name, "batch": b, "us_per_image": _summary(us), "passes_us_per_image": us}
                res["results"].append(row)
                if log:
                    log(format_row(row))
    finally:
        torch.set_num_threads(saved_threads)
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=1) + "\n")
    return res


HEADER = (f"{'model':<13} {'batch':>5} {'us/image median':>15} {'min':>9} {'q1':>9} {'q3':>9} {'max':>9}"
          f" {'images/s':>10}")


def format_row(row: dict) -> str:
    """One table line of a ``results`` entry (microseconds per image, images/s at the median)."""
    s = row["us_per_image"]
    return (f"{row['model']:<13} {row['batch']:>5} {s['median']:>15.2f} {s['min']:>9.2f} {s['q1']:>9.2f}"
            f" {s['q3']:>9.2f} {s['max']:>9.2f} {s['images_per_s']:>10.0f}")


def main(argv=None) -> int:
    """Command line: print the table and the agreement, write the JSON. Exit 0, or 2."""
    ap = ArgumentParser(prog="bench_cpu", description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", type=Path, default=CHECKPOINT, help="float state_dict (make model)")
    ap.add_argument("--quantized", type=Path, default=QUANTIZED, help="quantized state_dict (make model)")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 256], help="default: 1 256")
    ap.add_argument("--images", type=int, default=256, help="test images per timed pass (default 256)")
    ap.add_argument("--offset", type=int, default=0, help="first test image (default 0)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed passes (default 3)")
    ap.add_argument("--repeats", type=int, default=20, help="timed passes (default 20)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch.set_num_threads (default: torch's default, its intra-op thread count)")
    ap.add_argument("--out", type=Path, default=OUT, help="JSON output (default reports/bench/cpu.json)")
    args = ap.parse_args(argv)

    from model.data import DatasetMissingError
    from model.net import CheckpointError
    try:
        r = bench_cpu(args.checkpoint, args.quantized, tuple(args.batches), args.images, args.offset,
                      args.warmup, args.repeats, args.threads, args.out, log=print)
    except SettingError as exc:
        print_error(exc)
        return 2
    except (FileNotFoundError, CheckpointError) as exc:
        print_error(f"{exc} (`make model` creates the checkpoint and the export)")
        return 2
    except DatasetMissingError:
        print_error("Fashion-MNIST missing: `make venv` (scripts/bootstrap.sh) installs Debian's "
                    "dataset-fashion-mnist, or set FASHION_MNIST_ROOT to a folder torchvision can download into")
        return 2
    a = r["agreement"]
    print(f"int8 vs float32 predictions agree on {a['same_prediction']}/{a['images']} timed images "
          f"({100 * a['fraction']:.2f}%); correct vs labels: float32 {a['float_correct']}, int8 {a['int8_correct']}")
    how = "torch default" if r["threads_default"] else "--threads"
    print(f"torch {r['torch_version']}, threads {r['threads']} ({how}),"
          f" engine {r['engine']}, CPU {r['cpu_model']} ({r['logical_cpus']} logical), load average at start "
          f"{r['loadavg_start'][0]:.2f}; images {r['offset']}..{r['offset'] + r['images'] - 1}, "
          f"{r['warmup']} warm-up + {r['repeats']} timed passes -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
