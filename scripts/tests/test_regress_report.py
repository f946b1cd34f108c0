"""scripts/regress_report.py (the report step of `make regress`), without simulation.

A small runs folder is built in tmp from REAL test images: every row's reference class comes
from ``model.reference.forward`` on the committed export, the torch class from PyTorch's
quantized model (tb.bench.checks), the labels from ``model.data.load_images``; the "RTL" prediction
is the reference class (a bit-exact run). Cycle counts and shard timings are made up (they
are only copied and summed by the script). Then the script's files are checked against
figures computed here from labels and predictions.
"""
from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import pytest
import torch

from model.data import load_images
from model.net import load_checkpoint
from model.params import load_params
from model.reference import forward
from tb.bench.records import CHECKED_COLUMNS
from tb.bench.checks import torch_quantized_outputs
from tb.runner import DEFAULT_PARAMS, REPO

SCRIPT = REPO / "scripts" / "regress_report.py"
HEADER = list(CHECKED_COLUMNS)  # the shards' checked.csv (tb.bench.regress.write_outputs)
# (shard folder, first test-set index, images, torch run?, params)
SHARDS = [("shard0_0_24", 0, 24, True, "trained"), ("shard1_100_16", 100, 16, False, "trained"),
          ("stress0_0_8", 0, 8, True, "stress")]
PLOTS = ("confusion_matrix.png", "per_class_accuracy.png", "accuracy.png", "cycles_per_image.png")


def run_report(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(SCRIPT), "--threads", "1", *args], capture_output=True,
                          text=True, timeout=300, cwd=REPO, env=env)


def report_main(capsys, *args: str) -> tuple[int, str, str]:
    """scripts/regress_report.py's main() in this process (no interpreter + torch start-up):
    (exit status, stdout, stderr)."""
    spec = importlib.util.spec_from_file_location("regress_report", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        status = module.main(["--threads", "1", *args])
    except SystemExit as exc:  # argparse errors
        status = exc.code
    out = capsys.readouterr()
    return status, out.out, out.err


def real_outputs(first: int, count: int) -> dict:
    """Labels, reference classes and torch quantized classes of test images first..first+count-1
    (one data-set load, one batch: these are the slow steps)."""
    images, labels = load_images(train=False, offset=first, count=count)
    return {"labels": labels, "ref": forward(load_params(DEFAULT_PARAMS), images)["class"],
            "torch": torch_quantized_outputs(DEFAULT_PARAMS, images)["class"]}


def shard_rows(real: dict, offset: int, count: int, with_torch: bool, params: str) -> list[dict]:
    """checked.csv rows of test images ``offset..offset+count-1`` (RTL == reference); ``real``
    from :func:`real_outputs` (starting at index 0)."""
    rows = []
    for n in range(offset, offset + count):
        k = n - offset
        label, ref, tq = int(real["labels"][n]), int(real["ref"][n]), int(real["torch"][n])
        if params != "trained":  # made-up predictions: must not reach the accuracy figures
            ref = tq = (label + 1) % 10
        rows.append({"index": n, "label": label, "prediction": ref, "ref_prediction": ref,
                     "torch_prediction": tq if with_torch else "", "match_ref": 1,
                     "match_torch": 1 if with_torch else "",
                     "latency_cycles": 15341 if k == 0 else 22640 + k % 5,
                     "interval_cycles": "" if k == 0 else 12441 if k % 3 else 12450 + k,
                     "params": params})
    return rows


def write_shard(folder: Path, rows: list[dict], summary: dict) -> None:
    folder.mkdir(parents=True)
    with (folder / "checked.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, HEADER, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    (folder / "summary.json").write_text(json.dumps(summary))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, dict[str, list[dict]]]:
    """A runs folder of three shards that ran side by side (overlapping times)."""
    root = tmp_path_factory.mktemp("regress_runs")
    all_rows = {}
    real = real_outputs(0, max(offset + count for _, offset, count, _, _ in SHARDS))
    for n, (name, offset, count, with_torch, params) in enumerate(SHARDS):
        rows = shard_rows(real, offset, count, with_torch, params)
        all_rows[name] = rows
        write_shard(root / name, rows, {
            "offset": offset, "count": count, "completed": count, "cycles": 12441 * count,
            "sim_wall_s": 2.0, "images_per_s": 10.0 + n, "cycles_per_s": 100_000 + n,
            "t_import": 1000.0 + n, "t_end": 1010.0 + n, "profile_s": {"start_to_import": 0.5,
                                                                     "end_to_exit": 0.5}})
    return root, all_rows


@pytest.fixture(scope="module")
def report(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    res = run_report("--runs", str(runs[0]), "--out", str(out))
    assert res.returncode == 0, res.stdout + res.stderr
    return out, res


def _accuracy(rows, key):
    return sum(r[key] == r["label"] for r in rows) / len(rows)


def test_results_csv_merges_every_row_sorted(runs, report):
    out, _ = report
    with (out / "results.csv").open(newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == HEADER
        got = [tuple(r) for r in reader]
    expected = [tuple(str(r[c]) for c in HEADER) for rows in runs[1].values() for r in rows]
    assert sorted(got) == sorted(expected)
    keys = [(r[9], int(r[0])) for r in got]
    assert keys == sorted(keys)  # by (params, index)


def test_summary_figures(runs, report):
    out, res = report
    s = json.loads((out / "summary.json").read_text())
    trained = [r for name, rows in runs[1].items() for r in rows if r["params"] == "trained"]
    with_torch = [r for r in trained if r["torch_prediction"] != ""]
    t = s["params"]["trained"]
    assert t["images"] == len(trained) == 40
    assert (t["match_ref"], t["match_torch"], t["torch_compared"]) == (40, 24, 24)
    assert s["params"]["stress"]["images"] == 8
    acc = t["accuracy"]
    assert acc["images"] == 40
    assert acc["rtl"]["accuracy"] == pytest.approx(_accuracy(trained, "prediction"))
    assert acc["int8_reference"]["accuracy"] == pytest.approx(_accuracy(trained, "ref_prediction"))
    assert acc["torch_quantized"]["images"] == 24
    assert acc["torch_quantized"]["accuracy"] == pytest.approx(_accuracy(with_torch, "torch_prediction"))
    # float model on the same images, computed here with model.net
    net = load_checkpoint(REPO / "model" / "artifacts" / "fashion_lenet.pt").eval()
    correct = 0
    for _, offset, count, _, params in SHARDS:
        if params == "trained":
            images, labels = load_images(train=False, offset=offset, count=count)
            with torch.inference_mode():
                pred = net(images.float().div(255).unsqueeze(1)).argmax(1)
            correct += int((pred == labels).sum())
    assert acc["float"]["correct"] == correct
    conf = acc["confusion_rtl"]
    assert sum(map(sum, conf)) == 40
    assert sum(conf[c][c] for c in range(10)) == acc["rtl"]["correct"]
    for c in range(10):
        cls = [r for r in trained if r["label"] == c]
        assert acc["per_class"][str(c)]["images"] == len(cls)
        if cls:
            assert acc["per_class"][str(c)]["rtl"] == pytest.approx(_accuracy(cls, "prediction"))
    assert t["latency_cycles"] == {"min": 15341, "mean": pytest.approx(t["latency_cycles"]["mean"]),
                                   "max": 22644}
    assert t["back_to_back_interval_cycles"] == 12441
    thr = s["throughput"]
    assert thr["side_by_side"] is True
    assert thr["images_per_s"] == pytest.approx(10.0 + 11.0 + 12.0)
    assert thr["cycles_per_s"] == 300_003
    assert thr["wall_s"] == pytest.approx(13.0)  # 999.5 .. 1012.5
    assert thr["images_per_wall_s"] == pytest.approx(48 / 13.0, abs=0.01)
    assert thr["cycles_per_wall_s"] == round(12441 * 48 / 13.0)
    assert s["mismatches"] == {"ref": [], "torch": []}
    assert f"RTL {100 * acc['rtl']['accuracy']:.2f}%" in res.stdout


def test_plots_are_png_images(report):
    out, _ = report
    for name in PLOTS:
        path = out / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        h, w = mpimg.imread(path).shape[:2]
        assert h >= 400 and w >= 600, (name, h, w)


@pytest.mark.parametrize("column", ["match_ref", "match_torch"])
def test_mismatch_exit_1_names_the_index(runs, tmp_path, capsys, column):
    root = tmp_path / "runs"
    shutil.copytree(runs[0], root)
    path = root / "shard0_0_24" / "checked.csv"
    lines = path.read_text().splitlines()
    col = HEADER.index(column)
    fields = lines[6].split(",")  # test-set index 5
    fields[col] = "0"
    lines[6] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    status, out, err = report_main(capsys, "--runs", str(root), "--out", str(tmp_path / "out"), "--no-float")
    assert status == 1, out + err
    fail = [ln for ln in out.splitlines() if ln.startswith("FAIL")]
    assert len(fail) == 1 and fail[0].endswith("index 5"), out
    assert (tmp_path / "out" / "results.csv").is_file()  # the reports are written anyway
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["mismatches"]["ref" if column == "match_ref" else "torch"] == [["trained", 5]]


def test_no_shard_folder_exit_2(tmp_path, capsys):
    (tmp_path / "runs" / "crashed_shard").mkdir(parents=True)  # no checked.csv
    for runs in (tmp_path / "runs", tmp_path / "missing"):
        status, out, err = report_main(capsys, "--runs", str(runs), "--out", str(tmp_path / "out"))
        assert status == 2, out + err
        errors = [ln for ln in err.splitlines() if not ln.startswith("regress_report: warning")]
        assert len(errors) == 1 and errors[0].startswith("regress_report: "), err
    assert not (tmp_path / "out").exists()


def test_bad_header_and_bad_option_exit_2(tmp_path, capsys):
    write_shard(tmp_path / "runs" / "s", [], {})
    path = tmp_path / "runs" / "s" / "checked.csv"
    path.write_text("index,label,prediction\n1,2,3\n")
    status, out, err = report_main(capsys, "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out"))
    assert status == 2 and "header" in err, out + err
    status, out, err = report_main(capsys, "--no-such-option")
    assert status == 2 and len(err.strip().splitlines()) == 1, err
