#!/usr/bin/env python3
"""`make lint`: ``verilator --lint-only -Wall`` on every file under hdl/.

The SystemVerilog packages (``tb.runner.hdl_packages``, ``hdl/**/*_pkg.sv``) are linted on
their own, then read before every module, each module linted as top. Modules are found by
file name in hdl/, hdl/conv/, hdl/fc/, hdl/top/ (one module per file). Exits non-zero if any
file has a warning or error.
"""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tb.runner import hdl_packages, rtl_sources, verilator_env  # noqa: E402


def lint_command(sv: Path) -> list[str]:
    """The Verilator command that lints ``sv``: a package alone, a module as top after the packages."""
    packages = hdl_packages()
    if sv in packages:
        return ["verilator", "--lint-only", "-Wall", str(sv)]
    dirs = sorted({p.parent for p in rtl_sources()})
    search = [a for d in dirs for a in ("-y", str(d))]
    return ["verilator", "--lint-only", "-Wall", "--top-module", sv.stem, *search,
            *map(str, packages), str(sv)]


def main() -> int:
    verilator_env()
    sources = rtl_sources()
    failed = []
    for sv in sources:
        res = subprocess.run(lint_command(sv), capture_output=True, text=True)
        status = "ok" if res.returncode == 0 and not res.stderr.strip() else "FAIL"
        print(f"{status:4} {sv.relative_to(REPO)}")
        if status != "ok":
            failed.append(sv)
            print(res.stderr.rstrip())
    print(f"lint: {len(failed)} of {len(sources)} files with findings")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
