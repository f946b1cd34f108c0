"""The regression's result files: the harness's results file (:class:`HarnessRecord`, one per
image) and a shard's ``checked.csv`` (:data:`CHECKED_COLUMNS`).

The harness (``tb/hdl/regress_harness.sv``) writes its results file as a line naming the
fields, then one line of decimal numbers per image; that header line is the only definition
of the layout, and :func:`parse_results` reads the fields by name. This module imports
nothing heavy (no torch, no cocotb): scripts read it too.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from model.network import NUM_CLASSES, RESULT_BEATS

# checked.csv of a shard (tb.bench.regress), merged by scripts/regress_report.py
CHECKED_COLUMNS = ("index", "label", "prediction", "ref_prediction", "torch_prediction", "match_ref",
                   "match_torch", "latency_cycles", "interval_cycles", "params")


class HarnessFormatError(ValueError):
    """The results file does not have the fields :class:`HarnessRecord` needs, or a line does
    not match its header (a harness and a bench of different versions, or a cut-off file)."""


@dataclass(frozen=True)
class HarnessRecord:
    """One image's line of the harness's results file.

    Cycle stamps count clock cycles from the release of reset.

    Attributes:
        index: the image's position in the run (0-based, the order the images were sent).
        prediction: the class beat (0..9).
        fc3: the 10 fc3 code beats (uint8 codes 0..255).
        in_first: cycle the image's first pixel was accepted on s_axis.
        in_last: cycle its last pixel was accepted.
        out_last: cycle its last result beat was accepted on m_axis.
        last_cycles: the DUT's LAST_CYCLES CSR after the image (cycles).
        beats: result beats up to and including tlast (11 when the frame is right).
        in_gaps: idle cycles (tvalid low) inside the input frame.
        out_stalls: cycles its result beats waited (m_axis tvalid and not tready).
        events: requant monitor counts of the image, ``{layer: {event: count}}`` for layers
            conv1 .. fc3 and events ``sat_low``, ``sat_high``, ``big``, ``tie`` (see tb.fcov).
    """
    index: int
    prediction: int
    fc3: tuple[int, ...]
    in_first: int
    in_last: int
    out_last: int
    last_cycles: int
    beats: int
    in_gaps: int
    out_stalls: int
    events: dict[str, dict[str, int]]

    @property
    def result(self) -> list[int]:
        """The result beats: class, then fc3[0..9] (as ``model.reference.forward`` gives them)."""
        return [self.prediction, *self.fc3]

    @property
    def latency(self) -> int:
        """Cycles from the first pixel accepted to the last result beat."""
        return self.out_last - self.in_first


_FC3 = tuple(f"fc3[{j}]" for j in range(NUM_CLASSES))
_SCALARS = tuple(f.name for f in fields(HarnessRecord) if f.name not in ("fc3", "events"))


def parse_results(path: Path) -> list[HarnessRecord]:
    """The records of a harness results file, by the field names of its first line.

    Returns:
        one record per image line, in file order; ``[]`` when the file is missing or empty (no
        image completed).

    Raises:
        HarnessFormatError: the header lacks a field (named), or a line has a different
            number of values than the header (the image named).
    """
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()] if path.is_file() else []
    if not lines:
        return []
    header = lines[0].split()
    missing = [name for name in (*_SCALARS, *_FC3) if name not in header]
    if missing:
        raise HarnessFormatError(f"{path}: the header line names no {', '.join(missing)} "
                                 f"(header: {lines[0][:120]!r})")
    events = [(n, *name.split(".", 1)) for n, name in enumerate(header) if "." in name]
    records = []
    for k, line in enumerate(lines[1:]):
        try:
            values = [int(v) for v in line.split()]
        except ValueError:
            values = []
        if len(values) != len(header):
            raise HarnessFormatError(f"{path}: image {k}: {len(line.split())} values, the header names "
                                     f"{len(header)}: {line[:120]!r}")
        by_name = dict(zip(header, values))
        counts: dict[str, dict[str, int]] = {}
        for n, layer, event in events:
            counts.setdefault(layer, {})[event] = values[n]
        records.append(HarnessRecord(fc3=tuple(by_name[f] for f in _FC3), events=counts,
                                     **{f: by_name[f] for f in _SCALARS}))
    return records


def check_records(records: list[HarnessRecord], count: int, offset: int) -> list[str]:
    """Harness-level checks: every image once and in order, 11 result beats with tlast on the
    last, cycle stamps in order, LAST_CYCLES equal to the harness's own stamps.

    Args:
        records: :func:`parse_results` of the run.
        count: images sent.
        offset: test-set index of image 0 (for the messages).

    Returns:
        one message per problem, naming the image; empty when every check holds.
    """
    errors = []
    if len(records) != count:
        errors.append(f"{len(records)} result records for {count} images "
                      f"(last complete image {offset + len(records) - 1})")
    for k, rec in enumerate(records):
        tag = f"image {offset + k} (shard image {k})"
        if rec.index != k:
            errors.append(f"{tag}: record index {rec.index}, expected {k}")
        if rec.beats != RESULT_BEATS:
            errors.append(f"{tag}: output tlast after {rec.beats} result beats, expected {RESULT_BEATS}")
        if not rec.in_first < rec.in_last < rec.out_last:
            errors.append(f"{tag}: cycle stamps out of order (first pixel {rec.in_first}, last pixel "
                          f"{rec.in_last}, last result {rec.out_last})")
        if rec.last_cycles != rec.latency:
            errors.append(f"{tag}: output LAST_CYCLES expected {rec.latency} (harness stamps) "
                          f"actual {rec.last_cycles}")
    return errors
