#!/usr/bin/env python3
"""`make regress` report: merge the regression shards' results into one reports folder.

Reads every shard folder in ``--runs`` (default ``$SIM_BUILD/regress_runs``, see tb/runner.py)
that holds a ``checked.csv`` (and, for throughput, a ``summary.json``), both written by the
regression shards (tb/test_regress.py, ``tb.bench.regress``), and writes to ``--out``
(default ``reports/``):

  results.csv             every image of every shard, sorted by (params, index), the columns of
                          checked.csv (``tb.bench.records.CHECKED_COLUMNS``): index,label,
                          prediction,ref_prediction,torch_prediction,match_ref,match_torch,
                          latency_cycles,interval_cycles,params
  summary.json            images and bit-exact matches per parameter set; for ``trained``:
                          accuracy vs labels of the float model, the integer reference (int8),
                          PyTorch's quantized model and the RTL on exactly those images, cycles
                          per image, simulation throughput (per shard and summed over the
                          shards that ran side by side), wall time, the JUnit totals
  confusion_matrix.png    RTL predictions vs labels (trained parameters)
  per_class_accuracy.png  per class: float, int8 reference, RTL
  accuracy.png            float vs int8 reference vs torch quantized vs RTL, same images
  cycles_per_image.png    latency and interval per image (by index, and histograms)

The float model (``--checkpoint``, model/artifacts/fashion_lenet.pt) runs on the CPU over the
same test images (model.data.load_images); the int8 figure is ``ref_prediction`` of checked.csv
(model.reference.forward, computed by the regression). Only rows with ``params == trained``
count for accuracy figures. ``junit.xml`` in the output folder (pytest's ``--junitxml``, see the
Makefile) is summarised when present.

Exit status: 0 when every row matches the reference and torch (an empty ``torch_prediction``
means torch was not run: not a mismatch); 1 when any row has ``match_ref == 0`` or
``match_torch == 0`` (the indices are printed; the reports are still written; parameter sets
named by ``--ignore-params``, e.g. a fault-injection run, are reported but exempt); 2 for bad
arguments, no shard folder with a checked.csv, or a malformed checked.csv (one-line error).
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from model.network import NUM_CLASSES  # noqa: E402
from model.settings import TEST_IMAGES  # noqa: E402
from tb.bench.records import CHECKED_COLUMNS as COLUMNS  # noqa: E402

OPTIONAL = ("torch_prediction", "match_torch", "interval_cycles")  # empty: torch not run / first image
TRAINED = "trained"
DEFAULT_CHECKPOINT = REPO / "model" / "artifacts" / "fashion_lenet.pt"
PLOTS = ("confusion_matrix.png", "per_class_accuracy.png", "accuracy.png", "cycles_per_image.png")
MAX_LISTED = 20  # mismatching indices named in the exit-1 message


class ReportError(Exception):
    """Bad arguments or input files: one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of usage + error
        print(f"regress_report: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def default_runs() -> Path:
    from tb.runner import SIM_BUILD  # honours $SIM_BUILD
    return Path(SIM_BUILD) / "regress_runs"


def parse_args(argv=None) -> argparse.Namespace:
    ap = _Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=Path, default=None,
                    help="folder of shard folders (default $SIM_BUILD/regress_runs, i.e. sim_build/regress_runs)")
    ap.add_argument("--out", type=Path, default=REPO / "reports", help="reports folder (default reports/)")
    ap.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT,
                    help="float FashionLeNet state_dict for the float accuracy (default %(default)s)")
    ap.add_argument("--no-float", action="store_true", help="skip the float model (no float accuracy)")
    ap.add_argument("--junit", type=Path, default=None,
                    help="pytest JUnit XML to summarise (default OUT/junit.xml when present)")
    ap.add_argument("--ignore-params", action="append", default=[], metavar="NAME",
                    help="parameter set whose mismatches are expected (e.g. fault injection): "
                         "reported, but not exit status 1; repeatable")
    ap.add_argument("--require-coverage", action="store_true",
                    help="exit 1 unless every functional-coverage bin (tb/fcov.py) was hit (make regress)")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1),
                    help="torch CPU threads for the float model (default %(default)s)")
    args = ap.parse_args(argv)
    if args.runs is None:
        args.runs = default_runs()
    if args.threads < 1:
        ap.error("--threads must be >= 1")
    return args


# ------------------------------------------------------------------ inputs

def find_shards(runs: Path) -> list[Path]:
    """Shard folders (sorted by name) that hold a checked.csv.

    Raises:
        ReportError: ``runs`` is not a folder or has no shard folder with a checked.csv.
    """
    if not runs.is_dir():
        raise ReportError(f"no runs folder {runs} (run `make regress` first)")
    dirs = sorted(d for d in runs.iterdir() if d.is_dir())
    shards = [d for d in dirs if (d / "checked.csv").is_file()]
    for d in dirs:
        if d not in shards:
            print(f"regress_report: warning: {d} has no checked.csv (unfinished shard or an older run), skipped",
                  file=sys.stderr)
    if not shards:
        raise ReportError(f"no shard folder with a checked.csv in {runs}")
    return shards


def read_checked(path: Path) -> list[dict]:
    """Rows of one shard's checked.csv.

    Returns:
        one dict per image: the COLUMNS as int (``torch_prediction``, ``match_torch``,
        ``interval_cycles`` None when empty), ``params`` str, plus ``shard`` (folder name, not written to results.csv).

    Raises:
        ReportError: header not exactly COLUMNS, a non-integer or out-of-range value.
    """
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != COLUMNS:
            raise ReportError(f"{path}: header {header} is not {','.join(COLUMNS)}")
        rows = []
        for line, values in enumerate(reader, start=2):
            if not values:
                continue
            if len(values) != len(COLUMNS):
                raise ReportError(f"{path}:{line}: {len(values)} fields, expected {len(COLUMNS)}")
            row = {"shard": path.parent.name}
            try:
                for name, value in zip(COLUMNS, values):
                    value = value.strip()
                    if name == "params":
                        row[name] = value
                    elif value == "" and name in OPTIONAL:
                        row[name] = None
                    else:
                        row[name] = int(value)
            except ValueError as exc:
                raise ReportError(f"{path}:{line}: {exc}") from exc
            bad = [n for n in ("label", "prediction", "ref_prediction", "torch_prediction")
                   if row[n] is not None and not 0 <= row[n] < NUM_CLASSES]
            bad += [n for n in ("match_ref", "match_torch") if row[n] not in (0, 1, None)]
            if (row["torch_prediction"] is None) != (row["match_torch"] is None):
                bad.append("torch_prediction/match_torch (one empty, not both)")
            if not 0 <= row["index"] < TEST_IMAGES:
                bad.append("index")
            if not row["params"]:
                bad.append("params")
            if bad:
                raise ReportError(f"{path}:{line}: bad {', '.join(bad)} in {','.join(values)}")
            rows.append(row)
    return rows


def read_summary(path: Path) -> dict | None:
    """A shard's summary.json (None when missing or unreadable: throughput is then unknown)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_junit(path: Path | None) -> dict | None:
    """Totals of a pytest JUnit XML file: tests, failures, errors, skipped, time_s (None if absent)."""
    if path is None or not path.is_file():
        return None
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        print(f"regress_report: warning: {path}: {exc}", file=sys.stderr)
        return None
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    total = {"file": str(path), "tests": 0, "failures": 0, "errors": 0, "skipped": 0, "time_s": 0.0}
    for s in suites:
        for key in ("tests", "failures", "errors", "skipped"):
            total[key] += int(s.get(key, 0))
        total["time_s"] += float(s.get("time", 0.0))
    total["time_s"] = round(total["time_s"], 2)
    return total


def write_results(rows: list[dict], path: Path) -> None:
    """results.csv: the COLUMNS of checked.csv, empty fields for None."""
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        for r in rows:
            w.writerow(["" if r[c] is None else r[c] for c in COLUMNS])


# ------------------------------------------------------------------ figures

def float_predictions(checkpoint: Path, indices: list[int], threads: int):
    """Float FashionLeNet classes of test images ``indices`` (CPU, batches of 1,000).

    Returns:
        ``(pred, labels)``: int64 tensors ``[len(indices)]``; labels from the data set (to
        cross-check checked.csv).
    """
    import torch
    from model.data import load_images
    from model.net import load_checkpoint

    torch.set_num_threads(threads)
    images, labels = load_images(train=False)  # uint8 [10000, 28, 28], int64 [10000]
    net = load_checkpoint(checkpoint).eval()
    idx = torch.tensor(indices, dtype=torch.int64)
    preds = []
    with torch.inference_mode():
        for i in range(0, len(idx), 1000):
            x = images[idx[i:i + 1000]].to(torch.float32).div(255.0).unsqueeze(1)  # [B,1,28,28] in [0,1]
            preds.append(net(x).argmax(dim=1))
    return torch.cat(preds), labels[idx]


def _stats(values: list[int]) -> dict | None:
    if not values:
        return None
    return {"min": min(values), "mean": round(sum(values) / len(values), 1), "max": max(values)}


def _mode(values: list[int]) -> int | None:
    """Most common value (the smallest of equally common ones); None for no values."""
    if not values:
        return None
    counts = Counter(values)
    top = max(counts.values())
    return min(v for v, n in counts.items() if n == top)


def params_figures(rows: list[dict]) -> dict:
    """Counts and cycles of one parameter set (any params)."""
    torch_rows = [r for r in rows if r["torch_prediction"] is not None]
    intervals = [r["interval_cycles"] for r in rows if r["interval_cycles"] is not None]
    return {
        "images": len(rows),
        "unique_images": len({r["index"] for r in rows}),
        "shards": sorted({r["shard"] for r in rows}),
        "match_ref": sum(r["match_ref"] for r in rows),
        "match_torch": sum(r["match_torch"] for r in torch_rows),
        "torch_compared": len(torch_rows),  # rows with a torch prediction
        "latency_cycles": _stats([r["latency_cycles"] for r in rows]),
        "interval_cycles": _stats(intervals),
        "mean_interval_cycles": round(sum(intervals) / len(intervals), 1) if intervals else None,
        # the pipeline's steady state: stalls only ever lengthen an interval
        "back_to_back_interval_cycles": _mode(intervals),
    }


def accuracy_figures(rows: list[dict], float_pred: dict | None) -> dict:
    """Accuracy vs labels of float / int8 reference / torch quantized / RTL on the same rows.

    Args:
        rows: unique (by index) trained rows.
        float_pred: index -> float class, or None (float model skipped).
    """
    n = len(rows)

    def acc(key, subset):
        if not subset:
            return None
        correct = sum(pred(r, key) == r["label"] for r in subset)
        return {"correct": correct, "images": len(subset), "accuracy": round(correct / len(subset), 6)}

    def pred(r, key):
        return float_pred[r["index"]] if key == "float" else r[key]

    per_class = {}
    for c in range(NUM_CLASSES):
        cls = [r for r in rows if r["label"] == c]
        per_class[str(c)] = {k: (acc(key, cls) or {}).get("accuracy")
                             for k, key in (("rtl", "prediction"), ("int8", "ref_prediction"),
                                            ("float", "float"))
                             if key != "float" or float_pred is not None}
        per_class[str(c)]["images"] = len(cls)
    confusion = [[0] * NUM_CLASSES for _ in range(NUM_CLASSES)]  # [label][prediction]
    for r in rows:
        confusion[r["label"]][r["prediction"]] += 1
    return {
        "images": n,
        "rtl": acc("prediction", rows),
        "int8_reference": acc("ref_prediction", rows),
        "torch_quantized": acc("torch_prediction", [r for r in rows if r["torch_prediction"] is not None]),
        "float": acc("float", rows) if float_pred is not None else None,
        "per_class": per_class,
        "confusion_rtl": confusion,
    }


def throughput(shards: list[Path], rows_by_shard: dict[str, list[dict]]) -> dict:
    """Simulation throughput from the shards' summary.json files.

    Per shard, ``images_per_s``/``cycles_per_s`` are simulation rates (simulator wall time
    only, from summary.json). The aggregate sums them when the shards ran side by side (their
    run times all overlap: they shared the machine), else it is total images (cycles) over
    total simulation time. ``wall_s`` spans the first simulator start to the last exit
    (seconds); ``images_per_wall_s`` = images / ``wall_s``, ``cycles_per_wall_s`` = simulated
    cycles / ``wall_s``: what the whole machine delivered, process start-up included.
    """
    per_shard, spans = [], []
    for d in shards:
        s = read_summary(d / "summary.json")
        params = sorted({r["params"] for r in rows_by_shard.get(d.name, [])})
        if s is None:
            per_shard.append({"shard": d.name, "params": params, "summary": False})
            continue
        per_shard.append({"shard": d.name, "params": params, "summary": True,
                          **{k: s.get(k) for k in ("offset", "count", "completed", "images_per_s",
                                                  "cycles_per_s", "cycles", "sim_wall_s",
                                                  "process_wall_s", "mean_interval_cycles")}})
        if "t_import" in s and "t_end" in s:
            prof = s.get("profile_s", {})
            spans.append((s["t_import"] - prof.get("start_to_import", 0.0),
                          s["t_end"] + prof.get("end_to_exit", 0.0)))
    timed = [p for p in per_shard if p.get("images_per_s") and p.get("sim_wall_s")]
    # side by side: every shard's run overlaps every other's (one common instant); None: the
    # summary.json files carry no start/end times
    if len(timed) == 1:
        side_by_side = True
    elif len(spans) < len(timed):
        side_by_side = None
    else:
        side_by_side = max(a for a, _ in spans) < min(b for _, b in spans)
    if not timed:
        images_s = cycles_s = None
    elif side_by_side:  # the machine delivered the sum of the concurrent shards' rates
        images_s = round(sum(p["images_per_s"] for p in timed), 2)
        cycles_s = round(sum(p.get("cycles_per_s") or 0 for p in timed))
    else:  # one after another (or unknown): total work over total simulation time
        sim_s = sum(p["sim_wall_s"] for p in timed)
        images_s = round(sum(p.get("completed") or 0 for p in timed) / sim_s, 2)
        cycles_s = round(sum(p.get("cycles") or 0 for p in timed) / sim_s)
    wall = round(max(b for _, b in spans) - min(a for a, _ in spans), 2) if spans else None
    completed = sum(p.get("completed") or 0 for p in per_shard)
    return {
        "shards": per_shard,
        "side_by_side": side_by_side,
        "images_per_s": images_s,
        "cycles_per_s": cycles_s,
        "wall_s": wall,
        "images_per_wall_s": round(completed / wall, 2) if wall else None,
        "cycles_per_wall_s": round(sum(p.get("cycles") or 0 for p in per_shard) / wall) if wall else None,
    }


# ------------------------------------------------------------------ plots

def _class_names() -> list[str]:
    try:
        from model.data import CLASSES
        return list(CLASSES)
    except (ImportError, AttributeError):
        return [str(c) for c in range(NUM_CLASSES)]


def plot_confusion(acc: dict, path: Path) -> None:
    """10x10 counts, rows = label, columns = RTL prediction (log colour scale above 100)."""
    import matplotlib.pyplot as plt
    import numpy as np

    cm = np.array(acc["confusion_rtl"])
    names = _class_names()
    fig, ax = plt.subplots(figsize=(8, 7), dpi=110)
    im = ax.imshow(cm, cmap="Blues", norm="log" if cm.max() > 100 else None)
    cm_clip = np.maximum(cm, 1)
    thresh = math.sqrt(cm_clip.max()) if cm.max() > 100 else cm.max() / 2
    for i in range(NUM_CLASSES):
        for j in range(NUM_CLASSES):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if cm[i, j] > thresh else "black")
    ax.set_xticks(range(NUM_CLASSES), names, rotation=45, ha="right")
    ax.set_yticks(range(NUM_CLASSES), names)
    ax.set_xlabel("RTL prediction")
    ax.set_ylabel("label")
    rtl = acc["rtl"]
    ax.set_title(f"RTL confusion matrix: {rtl['images']:,} test images, "
                 f"{100 * rtl['accuracy']:.2f}% correct")
    fig.colorbar(im, ax=ax, shrink=0.8, label="images")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_per_class(acc: dict, path: Path) -> None:
    """Grouped bars per class: float (if run), int8 reference, RTL accuracy in %."""
    import matplotlib.pyplot as plt
    import numpy as np

    names = _class_names()
    series = [("float", "float model", "#9e9e9e"), ("int8", "int8 reference", "#4c72b0"),
              ("rtl", "RTL", "#dd8452")]
    series = [s for s in series if s[0] in acc["per_class"]["0"]]
    x = np.arange(NUM_CLASSES)
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(10, 5), dpi=110)
    lows = []
    for k, (key, label, color) in enumerate(series):
        vals = [100 * (acc["per_class"][str(c)].get(key) or 0.0) for c in range(NUM_CLASSES)]
        lows += [v for c, v in enumerate(vals) if acc["per_class"][str(c)]["images"]]
        ax.bar(x + (k - (len(series) - 1) / 2) * width, vals, width, label=label, color=color)
    rtl = [acc["per_class"][str(c)].get("rtl") for c in range(NUM_CLASSES)]
    for c, v in enumerate(rtl):
        if v is not None and acc["per_class"][str(c)]["images"]:
            ax.text(c + (len(series) - 1) / 2 * width, 100 * v + 0.3, f"{100 * v:.1f}",
                    ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, [f"{n}\n({acc['per_class'][str(c)]['images']})" for c, n in enumerate(names)],
                  fontsize=8)
    low = max(0.0, math.floor((min(lows) if lows else 0.0) / 10) * 10 - 10)
    ax.set_ylim(low, 102)
    ax.set_ylabel("accuracy vs labels (%)")
    ax.set_title(f"Per-class accuracy on {acc['images']:,} test images (images per class in brackets; "
                 f"y axis from {low:.0f}%)", fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=len(series), fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_accuracy(acc: dict, path: Path) -> None:
    """One bar each: float, int8 reference, torch quantized, RTL accuracy in % (zoomed y axis)."""
    import matplotlib.pyplot as plt

    bars = [("float", "float model\n(float32)", "#9e9e9e"),
            ("int8_reference", "int8 integer\nreference", "#4c72b0"),
            ("torch_quantized", "PyTorch quantized\n(qnnpack)", "#55a868"),
            ("rtl", "RTL\n(Verilator)", "#dd8452")]
    bars = [b for b in bars if acc.get(b[0])]
    vals = [100 * acc[k]["accuracy"] for k, _, _ in bars]
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    ax.bar(range(len(bars)), vals, color=[c for _, _, c in bars], width=0.6)
    for i, (k, _, _) in enumerate(bars):
        a = acc[k]
        ax.text(i, vals[i] + 0.05, f"{vals[i]:.2f}%\n{a['correct']:,}/{a['images']:,}",
                ha="center", va="bottom", fontsize=9)
    ax.set_xticks(range(len(bars)), [label for _, label, _ in bars])
    # the four figures differ by tenths of a percent: zoom, and say so in the label
    low = max(0.0, math.floor(min(vals)) - 3)
    ax.set_ylim(low, min(100.0, max(vals) + 1.5) if max(vals) < 98.5 else 101)
    ax.set_ylabel(f"accuracy vs labels (%), y axis from {low:.0f}%")
    partial = [label.split("\n")[0] for k, label, _ in bars if acc[k]["images"] != acc["images"]]
    ax.set_title(f"Accuracy on the same {acc['images']:,} Fashion-MNIST test images"
                 + (f"\n({', '.join(partial)}: only the images it was run on)" if partial else ""),
                 fontsize=11)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_cycles(rows: list[dict], figs: dict, path: Path) -> None:
    """Latency and interval by test-set index (left), and their histograms (middle, right)."""
    import matplotlib.pyplot as plt

    idx = [r["index"] for r in rows]
    lat = [r["latency_cycles"] for r in rows]
    iv_rows = [r for r in rows if r["interval_cycles"] is not None]
    iv = [r["interval_cycles"] for r in iv_rows]
    fig, (ax, hl, hi) = plt.subplots(1, 3, figsize=(14, 4.8), dpi=110, gridspec_kw={"width_ratios": [5, 2, 2]})
    small = len(rows) <= 200
    marker = dict(s=12 if small else 2, alpha=0.8 if small else 0.4, linewidths=0, rasterized=True)
    ax.scatter(idx, lat, color="#4c72b0", label="latency: first pixel in -> last result out", **marker)
    b2b = figs.get("back_to_back_interval_cycles")
    if iv_rows:
        ax.scatter([r["index"] for r in iv_rows], iv, color="#dd8452",
                   label="interval: previous result -> this result", **marker)
    if b2b:
        for a in (ax, hi):
            (a.axhline if a is ax else a.axvline)(b2b, color="black", ls="--", lw=1)
        ax.annotate(f"back to back: {b2b:,} cycles/image (most common interval)", xy=(0.01, b2b),
                    xycoords=("axes fraction", "data"), xytext=(0, -12), textcoords="offset points", fontsize=8)
    ax.set_xlabel("test-set index")
    ax.set_ylabel("clock cycles")
    ax.set_title(f"Cycles per image, {len(rows):,} images (stalling shards included)", fontsize=10)
    ax.legend(loc="lower right", fontsize=8, markerscale=1 if small else 5)
    ax.grid(alpha=0.3)
    ax.set_ylim(0, max(lat + iv) * 1.1)

    for h, values, color, name in ((hl, lat, "#4c72b0", "latency"), (hi, iv, "#dd8452", "interval")):
        if not values:
            h.set_visible(False)
            continue
        st = figs[f"{name}_cycles"]
        # one bin per cycle value when the spread is small, else 40 bins
        bins = range(st["min"], st["max"] + 2) if st["max"] - st["min"] < 40 else 40
        counts, _, _ = h.hist(values, bins=bins, color=color)
        if counts.max() > 50:  # a few outliers next to thousands of steady-state images
            h.set_yscale("log")
        h.set_xlabel(f"{name} (cycles)")
        h.set_title(f"{name} min/mean/max\n{st['min']:,} / {st['mean']:,.0f} / {st['max']:,}", fontsize=9)
        h.grid(alpha=0.3)
        h.tick_params(axis="x", labelsize=8, labelrotation=30)
    hl.set_ylabel("images")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# ------------------------------------------------------------------ main

def functional_coverage_hook(run_dirs: list[Path], out_dir: Path):
    """HOOK for the lead's functional coverage (tb/fcov.py, fcov.yml per shard): when
    ``tb.fcov`` is importable and has ``report``, call ``tb.fcov.report(run_dirs, out_dir)`` and
    return its result (stored under ``functional_coverage`` in summary.json); else None.
    Functional coverage itself is not implemented here."""
    try:
        import tb.bench.fcov as fcov
    except ImportError:
        return None
    report = getattr(fcov, "report", None)
    return report(run_dirs, out_dir) if callable(report) else None


HOW = {True: "summed over the shards running side by side",
       False: "shards ran one after another: total images over total simulation time",
       None: "shard run times unknown: total images over total simulation time"}


def _pct(a: dict | None) -> str:
    return "n/a" if not a else f"{100 * a['accuracy']:.2f}%"


def _dedupe(rows: list[dict]) -> list[dict]:
    """First row per index (several shards may have run the same image)."""
    seen, out = set(), []
    for r in rows:
        if r["index"] not in seen:
            seen.add(r["index"])
            out.append(r)
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        shards = find_shards(args.runs)
        rows = [r for d in shards for r in read_checked(d / "checked.csv")]
        if args.out.exists() and not args.out.is_dir():
            raise ReportError(f"--out {args.out} is not a folder")
        if not args.no_float and not args.checkpoint.is_file():
            raise ReportError(f"no float checkpoint {args.checkpoint} (--no-float skips the float model)")
    except ReportError as exc:
        print(f"regress_report: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    import matplotlib
    matplotlib.use("Agg")

    rows.sort(key=lambda r: (r["params"], r["index"]))
    write_results(rows, args.out / "results.csv")
    by_params: dict[str, list[dict]] = defaultdict(list)
    rows_by_shard: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_params[r["params"]].append(r)
        rows_by_shard[r["shard"]].append(r)

    summary: dict = {"runs": str(args.runs), "shards": [d.name for d in shards], "images": len(rows),
                     "params": {p: params_figures(rs) for p, rs in sorted(by_params.items())}}
    warnings = []
    trained = _dedupe(by_params.get(TRAINED, []))
    if len(trained) != len(by_params.get(TRAINED, [])):
        warnings.append(f"{len(by_params[TRAINED]) - len(trained)} trained rows repeat an index: "
                        "accuracy counts each image once")
    if trained:
        float_pred = None
        if not args.no_float:
            pred, labels = float_predictions(args.checkpoint, [r["index"] for r in trained], args.threads)
            float_pred = {r["index"]: int(p) for r, p in zip(trained, pred)}
            wrong = [r["index"] for r, lab in zip(trained, labels.tolist()) if r["label"] != lab]
            if wrong:
                warnings.append(f"checked.csv labels differ from the test set at indices {wrong[:MAX_LISTED]}")
        summary["params"][TRAINED]["accuracy"] = accuracy_figures(trained, float_pred)
    summary["throughput"] = throughput(shards, rows_by_shard)
    summary["junit"] = read_junit(args.junit if args.junit is not None else args.out / "junit.xml")
    # ---- HOOK: functional coverage (lead's tb/fcov.py reads each shard's fcov.yml) ----
    summary["functional_coverage"] = functional_coverage_hook(
        sorted(d for d in args.runs.iterdir() if d.is_dir()), args.out)
    summary["warnings"] = warnings

    plots = []
    acc = summary["params"].get(TRAINED, {}).get("accuracy")
    if acc:
        plot_confusion(acc, args.out / "confusion_matrix.png")
        plot_per_class(acc, args.out / "per_class_accuracy.png")
        plot_accuracy(acc, args.out / "accuracy.png")
        plots += ["confusion_matrix.png", "per_class_accuracy.png", "accuracy.png"]
    cyc_params = TRAINED if trained else sorted(by_params)[0]  # cycles of another set if no trained rows
    plot_cycles(by_params[cyc_params], summary["params"][cyc_params], args.out / "cycles_per_image.png")
    plots.append("cycles_per_image.png")
    summary["files"] = ["results.csv", "summary.json"] + plots
    fcov_file = (summary["functional_coverage"] or {}).get("file") if isinstance(
        summary["functional_coverage"], dict) else None
    if fcov_file:
        summary["files"].append(Path(fcov_file).name)

    bad_ref = [r for r in rows if r["match_ref"] == 0]
    bad_torch = [r for r in rows if r["match_torch"] == 0]
    summary["mismatches"] = {"ref": [[r["params"], r["index"]] for r in bad_ref],
                             "torch": [[r["params"], r["index"]] for r in bad_torch]}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")

    # ---- human summary
    print(f"regress report: {len(rows):,} images from {len(shards)} shard(s) in {args.runs}")
    for p, f in summary["params"].items():
        torch_part = (f"{f['match_torch']:,}/{f['torch_compared']:,} vs torch quantized"
                      if f["torch_compared"] else "torch not compared")
        print(f"  params {p}: {f['images']:,} images, bit-exact {f['match_ref']:,}/{f['images']:,} "
              f"vs reference, {torch_part}")
    if acc:
        print(f"  accuracy vs labels ({acc['images']:,} images): float {_pct(acc['float'])}, "
              f"int8 reference {_pct(acc['int8_reference'])}, torch quantized {_pct(acc['torch_quantized'])}, "
              f"RTL {_pct(acc['rtl'])}")
    f = summary["params"][cyc_params]
    lat, iv = f["latency_cycles"], f["interval_cycles"]
    print(f"  cycles per image ({cyc_params}): latency min/mean/max {lat['min']:,}/{lat['mean']:,.0f}/{lat['max']:,}"
          + (f"; interval mean {iv['mean']:,.0f}, back to back {f['back_to_back_interval_cycles']:,}" if iv else ""))
    t = summary["throughput"]
    if t["images_per_s"]:
        per = ", ".join(f"{s['shard']} {s['images_per_s']}" for s in t["shards"] if s.get("images_per_s"))
        print(f"  simulation: {t['images_per_s']:,} images/s, {t['cycles_per_s']:,} cycles/s "
              f"({HOW[t['side_by_side']]}; "
              f"per shard images/s: {per})")
    if t["wall_s"] or summary["junit"]:
        parts = []
        if t["wall_s"]:
            parts.append(f"shards {t['wall_s']:.0f} s first start to last exit "
                         f"({t['images_per_wall_s']:,} images/s, {t['cycles_per_wall_s']:,} cycles/s)")
        if summary["junit"]:
            j = summary["junit"]
            parts.append(f"pytest {j['time_s']:.0f} s, {j['tests']} tests, {j['failures']} failures, "
                         f"{j['errors']} errors")
        print("  wall time: " + "; ".join(parts))
    for w in warnings:
        print(f"  warning: {w}")
    print(f"  files: {args.out}/ " + ", ".join(summary["files"]))

    failing = False
    for what, bad in (("reference", bad_ref), ("torch quantized", bad_torch)):
        expected = [r for r in bad if r["params"] in args.ignore_params]
        if expected:
            print(f"  expected: {len(expected)} image(s) of {sorted({r['params'] for r in expected})} "
                  f"differ from the {what} (--ignore-params)")
        bad = [r for r in bad if r["params"] not in args.ignore_params]
        if bad:
            failing = True
            listed = ", ".join(f"{r['index']}" + ("" if r["params"] == TRAINED else f" ({r['params']})")
                               for r in bad[:MAX_LISTED])
            more = f" and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
            print(f"FAIL: {len(bad)} image(s) differ from the {what}: index {listed}{more}")
    fc = summary["functional_coverage"]
    if args.require_coverage:
        if not fc or not fc.get("bins"):
            failing = True
            print("FAIL: no functional coverage in the shard folders (fcov.yml)")
        elif fc["unhit"]:
            failing = True
            print(f"FAIL: {len(fc['unhit'])} functional-coverage bin(s) not hit: {', '.join(fc['unhit'])}")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
