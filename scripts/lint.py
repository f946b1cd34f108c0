#!/usr/bin/env python3
"""`make lint`: ``verilator --lint-only -Wall`` on every module under hdl/, each as top.

Modules are found by file name in hdl/, hdl/conv/, hdl/fc/, hdl/top/ (one module per
file). Exits non-zero if any module has a warning or error.
"""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tb.runner import verilator_env  # noqa: E402


def main() -> int:
    verilator_env()
    dirs = sorted({p.parent for p in (REPO / "hdl").rglob("*.sv")})
    search = [a for d in dirs for a in ("-y", str(d))]
    failed = []
    for sv in sorted((REPO / "hdl").rglob("*.sv")):
        cmd = ["verilator", "--lint-only", "-Wall", "--top-module", sv.stem, *search, str(sv)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        status = "ok" if res.returncode == 0 and not res.stderr.strip() else "FAIL"
        print(f"{status:4} {sv.relative_to(REPO)}")
        if status != "ok":
            failed.append(sv)
            print(res.stderr.rstrip())
    print(f"lint: {len(failed)} of {len(list((REPO / 'hdl').rglob('*.sv')))} files with findings")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
