#!/usr/bin/env python3
"""`make sim`: real Fashion-MNIST test images through the RTL top, compared bit for bit with
the integer reference (model.reference.forward).

Settings (command-line options override the environment):
  IMAGES  (--images)  number of test images, default 100
  OFFSET  (--offset)  first test-set index, default 0
  PARAMS  (--params)  export folder (manifest.json + .mem), default model/artifacts/export;
                      PARAMS=random uses a fixed random parameter set (no trained model needed)
  WAVES   (--waves)   1: dump an FST trace to sim_build/sim_waves/dump.fst (`make waves`
                      opens it in GTKWave with tb/waves.gtkw)
  LANES   (--lanes)   fc_engine lanes, default the HDL default (model.network.DEFAULT_FOLDING)
  CONV2_PAR (--conv2-par) conv2 input channels per cycle (1, 2, 3 or 6), default the HDL
                      default; the rest of the folding is the HDL default
  -v                  show the whole simulator log

Prints one line per image, ``image <idx> label <l> (<name>) predicted <p> rtl==ref <yes/no>``,
then a summary (bit-exact matches, RTL accuracy against the labels, cycles per image).
Exit status: 0 when every image matches the reference, 1 on any mismatch or simulation
failure, 2 on bad settings: a one-line ``error: ...`` on stderr naming the setting or file,
before anything is built (IMAGES/OFFSET outside the test set or not integers; PARAMS not an
export folder, a manifest that is not JSON or lacks a layer, a missing or truncated .mem
file, a sha256 that does not match the manifest, a shape other than FashionLeNet's, values
the hardware cannot hold, a quantized_state_dict.pt that does not load).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from model.network import DEFAULT_FOLDING, MACS_PER_IMAGE  # noqa: E402
from model.quantize import check_export_dir  # noqa: E402
from model.settings import ArgumentParser, SettingError, check_image_range, env_int, print_error  # noqa: E402
from tb.bench.paramsets import random_params_dir  # noqa: E402
from tb.bench.top import IMAGES_MODULE, TOPLEVEL, run_top  # noqa: E402
from tb.runner import SIM_BUILD  # noqa: E402

WAVES_BUILD = "sim_waves"  # build folder of traced runs (the Makefile's `waves` target opens it)
# simulator log lines worth showing live (per-image progress, failures, build errors)
LIVE = re.compile(r"cocotb\.tb |FAIL|Error|error:|Traceback|mismatch")


class LiveFilter(logging.Filter):
    """Shows LIVE lines, and every line of a Python traceback (the assertion message of a
    failing test spans many lines) until the cocotb results table."""

    def __init__(self):
        super().__init__()
        self.in_traceback = False

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if "Traceback" in msg:
            self.in_traceback = True
        elif "*****" in msg:
            self.in_traceback = False
        return self.in_traceback or bool(LIVE.search(msg))


def parse_args(argv=None) -> argparse.Namespace:
    """Options, their defaults from the environment (``IMAGES`` etc.).

    Raises:
        SettingError: an environment default that is not an integer.
        SystemExit(2): a bad option (one line on stderr).
    """
    env = os.environ
    ap = ArgumentParser(prog="sim", description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=env_int("IMAGES", 100))
    ap.add_argument("--offset", type=int, default=env_int("OFFSET", 0))
    ap.add_argument("--params", default=env.get("PARAMS", str(REPO / "model" / "artifacts" / "export")))
    ap.add_argument("--waves", type=int, nargs="?", const=1, choices=(0, 1), default=env_int("WAVES", 0))
    # None: the top's HDL defaults (model.network.DEFAULT_FOLDING)
    ap.add_argument("--lanes", type=int, default=env_int("LANES", None))
    ap.add_argument("--conv2-par", type=int, default=env_int("CONV2_PAR", None))
    ap.add_argument("-v", "--verbose", action="store_true")
    return ap.parse_args(argv)


def check_settings(args: argparse.Namespace) -> Path | None:
    """Every check that can fail on the user's settings, before anything is built.

    Returns:
        the export folder, resolved (None for ``random``).

    Raises:
        SettingError: image range, lane count, empty PARAMS.
        model.params.ParamsError, model.net.CheckpointError: a bad export folder
            (:func:`model.quantize.check_export_dir`: manifest, files, sha256, shapes, values,
            quantized_state_dict.pt).
    """
    check_image_range(args.offset, args.images)
    if args.lanes is not None and args.lanes < 1:
        raise SettingError(f"LANES={args.lanes}: at least 1 MAC lane")
    if args.conv2_par is not None and args.conv2_par not in (1, 2, 3, 6):
        raise SettingError(f"CONV2_PAR={args.conv2_par}: conv2 has 6 input channels, 1, 2, 3 or 6 per cycle")
    if args.waves not in (0, 1):  # argparse checks choices on the command line only, not env defaults
        raise SettingError(f"WAVES={args.waves}: 0 or 1")
    if args.params == "random":
        return None
    if not args.params.strip():
        raise SettingError("PARAMS is empty: give an export folder (manifest.json + .mem) or PARAMS=random")
    params = Path(args.params).resolve()
    check_export_dir(params)
    return params


def main(argv=None) -> int:
    try:
        args = parse_args(argv)
        params = check_settings(args)
    except ValueError as exc:  # SettingError, ParamsError, CheckpointError: one line, no traceback
        print_error(exc)
        return 2
    folding = DEFAULT_FOLDING.overridden(lanes=args.lanes, conv2_par=args.conv2_par)
    os.environ["PARAMS"] = str(params if params is not None else random_params_dir())

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    if not args.verbose:
        handler.addFilter(LiveFilter())
    log = logging.getLogger("cocotb")  # cocotb-test logs the simulator's output here
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False  # cocotb-test also installs a root handler (basicConfig)

    fd, name = tempfile.mkstemp(prefix="sim_results_", suffix=".json")
    os.close(fd)
    results_path = Path(name)
    env = {"IMAGES": str(args.images), "OFFSET": str(args.offset), "RESULTS": str(results_path)}
    print(f"sim: building/running {TOPLEVEL} (folding {folding.tag}), images "
          f"{args.offset}..{args.offset + args.images - 1}, parameters {os.environ['PARAMS']}", flush=True)
    sim_error = None
    try:
        run_top(IMAGES_MODULE, folding, testcase="test_images$", extra_env=env, waves=bool(args.waves),
                build_name=WAVES_BUILD if args.waves else None)
    except SystemExit as exc:  # cocotb-test reports failed tests this way
        sim_error = str(exc)

    text = results_path.read_text() if results_path.is_file() else ""
    results_path.unlink(missing_ok=True)
    if not text:
        print(f"sim: no results ({sim_error or 'simulation ended without writing them'})")
        return 1
    data = json.loads(text)
    for r in data["images"]:
        torch_match = {None: "n/a", True: "yes", False: "no"}[r.get("torch_match")]
        print(f"image {r['index']} label {r['label']} ({r['label_name']}) predicted {r['predicted']} "
              f"rtl==ref {'yes' if r['match'] else 'no'} rtl==torch {torch_match}")
    for r in data["images"]:
        if not r["match"]:
            diffs = ([f"class expected {r['ref_class']} actual {r['predicted']}"]
                     if r["ref_class"] != r["predicted"] else [])
            diffs += [f"fc3[{j}] expected {e} actual {a}"
                      for j, (e, a) in enumerate(zip(r["ref_fc3"], r["fc3"])) if e != a]
            if len(r["fc3"]) != len(r["ref_fc3"]):
                diffs.append(f"{len(r['fc3']) + 1} result beats, expected {len(r['ref_fc3']) + 1}")
            print(f"  image {r['index']} differs: " + ", ".join(diffs))
    s = data["summary"]
    n = s["images"]
    if n < s["requested"]:
        print(f"sim: only {n} of {s['requested']} images completed ({s['error']})")
    if n == 0:
        return 1
    print(f"images: {n} (test set {s['offset']}..{s['offset'] + n - 1}), parameters {s['params']}")
    print(f"bit-exact vs integer reference: {s['matches']}/{n}")
    tm = s.get("torch_matches")
    print(f"bit-exact vs torch quantized model (qnnpack): "
          f"{f'{tm}/{n}' if tm is not None else 'n/a (no quantized_state_dict.pt in PARAMS)'}")
    print(f"RTL accuracy vs labels: {s['correct']}/{n} = {100.0 * s['correct'] / n:.2f}%")
    lat = s["mean_latency_cycles"]
    if lat is not None:
        thr = s["mean_interval_cycles"]
        print(f"cycles per image: throughput {f'{thr:.0f}' if thr is not None else 'n/a (1 image)'} "
              "(back to back, between results); "
              f"latency {s['first_latency_cycles']} with an empty pipeline, {lat:.0f} mean over the batch "
              "(LAST_CYCLES: first pixel accepted -> last result beat, incl. queueing)")
        if thr is not None:
            mults = folding.multipliers()
            print(f"MAC utilization: {MACS_PER_IMAGE} MACs per image / ({mults} multipliers x "
                  f"{thr:.0f} cycles) = {100.0 * MACS_PER_IMAGE / (mults * thr):.1f}%")
    if args.waves:
        fst = SIM_BUILD / WAVES_BUILD / "dump.fst"
        if fst.is_file():
            print(f"waves: {fst}  (make waves, or: gtkwave {fst} tb/waves.gtkw)")
    if sim_error or s["matches"] != n or n < s["requested"] or tm not in (None, n):
        print(f"sim: FAILED ({n - s['matches']} mismatching images{'; ' + sim_error if sim_error else ''})")
        return 1
    print("sim: PASSED")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
