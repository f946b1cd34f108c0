"""Failure localization: re-run one test image through the top with per-layer monitors and waves.

The regression (tb/test_regress.py) only sees each image's result beats. When they differ,
:func:`localize` re-runs that image through the top's ``test_stages``
(``tb/test_fashion_lenet_accel.py``: the top with cocotbext-axi drivers, stream probes on
conv1/pool1/conv2/pool2 and the fc requant output, ``tb/bench/monitors.py``, compared with
``model.reference.forward``) in a Verilator build with FST tracing, applies the
same AXI4-Lite parameter writes the harness applied, and reports the first differing layer,
channel (or neuron), position, expected and actual value, the waveform, and the command that
reproduces it (``scripts/localize.py``).
"""
from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import sys
from pathlib import Path

from model.network import DEFAULT_FOLDING, Folding
from tb.bench.top import IMAGES_MODULE, TOPLEVEL, top_sources
from tb import runner

REPO = Path(__file__).resolve().parent.parent
GTKW = REPO / "tb" / "waves.gtkw"


def repro_command(index: int, params_dir: Path, writes_file: Path | None) -> str:
    """The shell command (run from the repository root) that re-runs this localization."""
    cmd = [".venv/bin/python", "scripts/localize.py", "--image", str(index), "--params", str(params_dir)]
    if writes_file:
        cmd += ["--param-writes", str(writes_file)]
    return " ".join(shlex.quote(c) for c in cmd)


def localize(index: int, params_dir: Path, writes_file: Path | None, out_dir: Path,
             folding: Folding = DEFAULT_FOLDING) -> dict:
    """Re-run Fashion-MNIST test image ``index`` with stage monitors and an FST trace.

    Args:
        index: test-set index (0..9999).
        params_dir: export folder the DUT is preloaded with and the reference computes with.
        writes_file: AXI4-Lite writes applied before the image (harness format), or None.
        out_dir: receives ``image_<index>.fst``, ``first_diff.json`` and ``sim.log``.
        folding: the top's folding (``Lanes``, ``Conv2InChannelsPar``); default the HDL
            defaults (``model.network.DEFAULT_FOLDING``), as in the regression harness.

    Returns:
        dict with ``image``, ``first`` (layer, channel/neuron, row, col, expected, actual,
        differing; None if every stage matched), ``summary`` (one line), ``fst``, ``gtkw``,
        ``view`` (gtkwave command), ``command`` (reproduction) and ``passed`` (the re-run
        found no difference: the failure did not reproduce in the top bench).
    """
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    report_file = out_dir / "first_diff.json"
    report_file.unlink(missing_ok=True)
    params_dir = Path(params_dir).resolve()
    key = hashlib.sha1(f"{params_dir}:{sorted(folding.hdl_parameters().items())}".encode()).hexdigest()[:8]
    build_name = f"localize_{key}"
    env = {"STAGE_OFFSET": str(index), "STAGE_IMAGES": "1", "STAGE_REPORT": str(report_file)}
    if writes_file:
        env["PARAM_WRITES"] = str(Path(writes_file).resolve())
    passed = True
    build_dir = runner.build_folder(build_name)
    try:
        runner.run_sim(TOPLEVEL, top_sources(), module=IMAGES_MODULE,
                       parameters={**folding.hdl_parameters(), "ParamDir": str(params_dir)},
                       extra_env=env, waves=True, testcase="test_stages$", build_name=build_name)
    except (SystemExit, AssertionError):
        passed = False
    fst_src = build_dir / "dump.fst"
    fst = out_dir / f"image_{index}.fst"
    if fst_src.is_file():
        shutil.copyfile(fst_src, fst)
    for log in ("sim.log", "results.xml"):
        if (build_dir / log).is_file():
            shutil.copyfile(build_dir / log, out_dir / log)
    diffs = json.loads(report_file.read_text()) if report_file.is_file() else {}
    first = diffs.get(str(index))
    if first:
        summary = f"image {index}: first difference at {first['summary']}"
    elif passed:
        summary = f"image {index}: every stage matched in the top bench (did not reproduce)"
    else:
        summary = f"image {index}: the top bench failed before comparing stages (see {out_dir / 'sim.log'})"
    return {"image": index, "first": first, "summary": summary,
            "fst": str(fst) if fst.is_file() else None, "gtkw": str(GTKW),
            "view": f"gtkwave {fst} {GTKW}", "passed": passed,
            "command": repro_command(index, params_dir, writes_file)}


def format_report(rep: dict) -> str:
    """Multi-line text of a :func:`localize` result for failure messages."""
    return (f"{rep['summary']}\n"
            f"    waveform: {rep['fst'] or '(none written)'}  view: {rep['view']}\n"
            f"    reproduce: {rep['command']}")


if __name__ == "__main__":  # pragma: no cover - scripts/localize.py is the CLI
    sys.exit("use scripts/localize.py")
