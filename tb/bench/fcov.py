"""Functional coverage of the end-to-end regression (cocotb-coverage).

The regression harness (``tb/hdl/regress_harness.sv`` with ``tb/hdl/requant_monitor.sv`` on
every requant instance) counts, per image, the events below inside the RTL; each image is
then sampled once here, so a bin's hit count is the number of images in which the event
occurred at least once (the event totals are kept alongside, see :func:`event_totals`).

Bins (all must be hit by ``make regress``):

* ``fashion_lenet.requant.<layer>.<event>``, layer in conv1, conv2, fc1, fc2, fc3, event:
  ``sat_low`` (y + zp_out clamped at the low bound: 0, or zp_out after ReLU),
  ``sat_high`` (clamped at 255), ``big`` (|acc + bias| >= 2^24: the int32 -> float32 step of
  QNNPACK's fp32 requantization rounds), ``tie`` (the final rounding is an exact tie, where
  round-half-to-even matters);
* ``fashion_lenet.class.label`` / ``fashion_lenet.class.prediction``: bins 0..9;
* ``fashion_lenet.stream.back_to_back``: the image's first pixel was accepted before the
  previous image's last result beat left: two images in the pipeline at once. (A first pixel
  is never accepted in the cycle after the previous last one: conv_padder emits the bottom
  and top padding rows between frames without consuming input.)
* ``fashion_lenet.stream.input_gaps``: tvalid low at least once inside the frame;
  ``fashion_lenet.stream.output_stalls``: m_axis tvalid && !tready at least once on the
  image's result beats.

Source of the API: cocotb-coverage 2.0 (``CoverPoint``, ``coverage_db.export_to_yaml``,
``merge_coverage``).
"""
from __future__ import annotations

import logging
from pathlib import Path

from cocotb_coverage.coverage import CoverPoint, coverage_db, merge_coverage

LAYERS = ("conv1", "conv2", "fc1", "fc2", "fc3")
EVENTS = ("sat_low", "sat_high", "big", "tie")
ROOT = "fashion_lenet"
STREAM = ("back_to_back", "input_gaps", "output_stalls")


def _points() -> list[CoverPoint]:
    pts = []
    for layer in LAYERS:
        for event in EVENTS:
            pts.append(CoverPoint(f"{ROOT}.requant.{layer}.{event}", bins=[True],
                                  xf=lambda img, l=layer, e=event: img["events"][l][e] > 0))
    pts.append(CoverPoint(f"{ROOT}.class.label", xf=lambda img: img["label"], bins=list(range(10))))
    pts.append(CoverPoint(f"{ROOT}.class.prediction", xf=lambda img: img["prediction"], bins=list(range(10))))
    for name in STREAM:
        pts.append(CoverPoint(f"{ROOT}.stream.{name}", xf=lambda img, n=name: bool(img[n]), bins=[True]))
    return pts


def _sample(img: dict) -> None:
    """Sampled once per image (the decorators below do the work)."""


for _cp in _points():
    _sample = _cp(_sample)


def sample(img: dict) -> None:
    """Sample one image.

    Args:
        img: ``label``, ``prediction`` (0..9), ``back_to_back``, ``input_gaps``,
            ``output_stalls`` (bool or cycle count), ``events[layer][event]`` (int counts
            from the harness record).
    """
    _sample(img)


def export(path: Path) -> None:
    """Write this process's coverage database (YAML, cocotb-coverage format)."""
    coverage_db.export_to_yaml(str(path))


def merge(files: list[Path], out: Path) -> dict:
    """Merge per-shard YAML exports with ``cocotb_coverage.coverage.merge_coverage``.

    Returns:
        ``{point name: {bin: hits}}`` of the merged database (only coverpoints, not groups).
    """
    import yaml
    files = [str(f) for f in files]
    if len(files) == 1:
        out.write_text(Path(files[0]).read_text())
    else:
        merge_coverage(logging.getLogger("fcov").info, str(out), *files)
    data = yaml.safe_load(out.read_text()) or {}
    return {name: {str(b): int(h) for b, h in attrs["bins:_hits"].items()}
            for name, attrs in data.items() if "bins:_hits" in attrs}


def table(points: dict, totals: dict | None = None) -> tuple[list[str], list[str]]:
    """Printable rows (``bin  images hit  [events]``) and the names of unhit bins."""
    rows, unhit = [f"{'bin':<44} {'images':>8} {'events':>12}"], []
    for name in sorted(points):
        for b, hits in points[name].items():
            label = name if b == "True" else f"{name}[{b}]"
            ev = (totals or {}).get(name)
            rows.append(f"{label:<44} {hits:>8} {'' if ev is None else ev:>12}")
            if hits == 0:
                unhit.append(label)
    return rows, unhit


def event_totals(images: list[dict]) -> dict[str, int]:
    """Total requant event counts (not images) per ``fashion_lenet.requant.<layer>.<event>``."""
    tot = {}
    for layer in LAYERS:
        for event in EVENTS:
            tot[f"{ROOT}.requant.{layer}.{event}"] = sum(img["events"][layer][event] for img in images)
    return tot


def report(run_dirs: list[Path], out_dir: Path, log=print) -> dict:
    """Merge ``fcov.yml`` (+ ``fcov_events.json``) of every shard folder into
    ``out_dir/functional_coverage.yml``, print the table, return a summary.

    Returns:
        ``{"bins": n, "hit": k, "unhit": [names], "file": path}``; ``bins`` 0 when no shard
        left coverage.
    """
    import json
    files = [Path(d) / "fcov.yml" for d in run_dirs if (Path(d) / "fcov.yml").is_file()]
    if not files:
        return {"bins": 0, "hit": 0, "unhit": [], "file": None}
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "functional_coverage.yml"
    points = merge(files, out)
    totals: dict[str, int] = {}
    for d in run_dirs:
        f = Path(d) / "fcov_events.json"
        if f.is_file():
            for k, v in json.loads(f.read_text()).items():
                totals[k] = totals.get(k, 0) + v
    rows, unhit = table(points, totals)
    n = sum(len(b) for b in points.values())
    log(f"functional coverage ({len(files)} shards; images = images that hit the bin, "
        f"events = requant beats): {n - len(unhit)}/{n} bins hit")
    for r in rows:
        log("  " + r)
    if unhit:
        log("unhit bins: " + ", ".join(unhit))
    return {"bins": n, "hit": n - len(unhit), "unhit": unhit, "file": str(out)}
