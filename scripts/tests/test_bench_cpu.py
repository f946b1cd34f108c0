"""``scripts/bench_cpu.py`` (CPU baselines) with tiny repetition counts: result structure,
plausible times, the JSON file, the agreement figure and the exit status for a missing
checkpoint. A few seconds; the figures themselves are not checked."""
import json
import math
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]

from scripts import bench_cpu


def test_bench_cpu_tiny(tmp_path):
    threads_before = torch.get_num_threads()
    out = tmp_path / "sub" / "cpu.json"
    r = bench_cpu.bench_cpu(batches=(1, 256), images=256, warmup=1, repeats=2, threads=1, out=out)
    assert torch.get_num_threads() == threads_before  # --threads is undone afterwards
    assert json.loads(out.read_text()) == json.loads(json.dumps(r))
    assert r["threads"] == 1 and not r["threads_default"] and r["engine"] == "qnnpack"
    assert r["torch_version"] == torch.__version__ and r["cpu_model"] and r["cpu_model"] != "unknown"
    assert [(row["model"], row["batch"]) for row in r["results"]] == [
        ("float32", 1), ("float32", 256), ("int8_qnnpack", 1), ("int8_qnnpack", 256)]
    for row in r["results"]:
        s = row["us_per_image"]
        assert len(row["passes_us_per_image"]) == 2
        assert all(math.isfinite(v) and v > 0 for v in row["passes_us_per_image"]), row
        assert 0 < s["min"] <= s["q1"] <= s["median"] <= s["q3"] <= s["max"] < 1e6, row  # < 1 s/image
        assert math.isclose(s["images_per_s"], 1e6 / s["median"])
    # real test images through the project's models: ~92% correct, int8 ~ float
    a = r["agreement"]
    assert a["images"] == 256 and a["fraction"] == a["same_prediction"] / 256
    assert a["fraction"] >= 0.95 and a["float_correct"] >= 215 and a["int8_correct"] >= 215, a


def test_bench_cpu_missing_checkpoint(tmp_path, capsys):
    rc = bench_cpu.main(["--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path / "cpu.json")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "make model" in err, err
    assert not (tmp_path / "cpu.json").exists()
