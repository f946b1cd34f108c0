#!/usr/bin/env python3
"""Re-run one Fashion-MNIST test image through the RTL top with per-layer monitors and an FST
trace, and name the first layer, channel and position that differ from the integer reference.

The regression (`make regress`, tb/test_regress.py) runs this automatically for failing images
and prints the command; run it by hand to reproduce a failure:

  .venv/bin/python scripts/localize.py --image 1234
  .venv/bin/python scripts/localize.py --image 0 --param-writes sim_build/fault_runs/fault/param_writes.hex

Exit status: 0 when every stage matches, 1 when a difference was found (printed), 2 on bad
arguments.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main(argv=None) -> int:
    from tb.runner import DEFAULT_PARAMS, SIM_BUILD
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", type=int, required=True, help="test-set index 0..9999")
    ap.add_argument("--params", type=Path, default=DEFAULT_PARAMS,
                    help="export folder (preload + reference), default %(default)s")
    ap.add_argument("--param-writes", type=Path, default=None,
                    help="AXI4-Lite writes applied before the image (address << 32 | data per line, hex)")
    ap.add_argument("--out", type=Path, default=None,
                    help="output folder (default sim_build/localize/image_<n>)")
    args = ap.parse_args(argv)
    if not 0 <= args.image < 10_000:
        print(f"localize: --image {args.image} outside the test split 0..9999", file=sys.stderr)
        return 2
    from model.quantize import check_export_dir
    from model.net import CheckpointError
    from model.params import ParamsError
    try:  # before any build: manifest, every .mem file's count and sha256, shapes, values
        check_export_dir(args.params)
    except (ParamsError, CheckpointError) as exc:
        print(f"localize: {exc}", file=sys.stderr)
        return 2
    if args.param_writes and not args.param_writes.is_file():
        print(f"localize: {args.param_writes} does not exist", file=sys.stderr)
        return 2
    from tb.bench.localize import format_report, localize
    out = args.out or SIM_BUILD / "localize" / f"image_{args.image}"
    rep = localize(args.image, args.params, args.param_writes, out)
    print(format_report(rep))
    (Path(out) / "localize.json").write_text(json.dumps(rep, indent=1))
    return 0 if rep["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
