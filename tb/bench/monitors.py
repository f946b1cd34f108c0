"""Monitors inside the top: the inter-stage streams (conv1 and conv2 before pooling, pool1,
pool2), the fc requant output, the frame timing on the ports, and :func:`run_stages`, which
compares every stage of a few images with ``model.reference.forward``.

A stage mismatch names the image, layer, channel (or neuron), row and column, expected and
actual; the first difference in pipeline order localizes a fault (``tb/bench/localize.py``).
"""
from __future__ import annotations

import cocotb
import torch
from cocotb.triggers import RisingEdge
from cocotb.utils import get_sim_time

from model.network import LAYERS
from model.reference import forward
from tb.bench.checks import compare_results, compare_stage, describe_diff
from tb.bench.top import TB, dut_signal


def _stage_streams() -> dict[str, tuple[str, str, tuple[int, int, int]]]:
    """Per conv layer: its requantized output before the pool (``u_<conv>.pool_t*``) and the
    pooled stream between the blocks (``<pool>_axis_t*`` in the top)."""
    streams = {}
    for layer in LAYERS:
        if layer.kind == "conv":
            c, size, pooled = layer.out_channels, layer.out_size, layer.pooled_size
            streams[layer.name] = (f"u_{layer.name}", "pool", (c, size, size))
            pool = layer.name.replace("conv", "pool")
            streams[pool] = ("", f"{pool}_axis", (c, pooled, pooled))
    return streams


# Inter-stage streams, keyed by model.reference.forward output: (instance, signal prefix,
# [C, H, W]); conv1 (6, 28, 28), pool1 (6, 14, 14), conv2 (16, 12, 12), pool2 (16, 6, 6).
STAGES = _stage_streams()
FC_LAYERS = tuple(layer.name for layer in LAYERS if layer.kind == "fc")  # fc_engine's layer_q order


class StreamProbe:
    """Records tdata of every handshake (tvalid && tready) on an internal stream."""

    def __init__(self, clk, data, valid, ready):
        self.clk, self.data, self.valid, self.ready = clk, data, valid, ready
        self.beats: list[int] = []
        self._task = cocotb.start_soon(self._run())

    async def _run(self):
        while True:
            await RisingEdge(self.clk)
            if int(self.valid.value) and int(self.ready.value):
                self.beats.append(int(self.data.value))

    def stop(self):
        self._task.cancel()


class FcProbe:
    """Records every requantized neuron inside ``fc_engine`` (white box: its requant output
    ``rq_out_valid``/``rq_out``, neuron ``rq_tag``, running layer ``u_sequencer.layer_q``)."""

    def __init__(self, dut):
        self.clk, self.valid, self.layer, self.tag, self.data = (
            dut.clk_i, *(dut_signal(dut, f"u_fc.{n}")
                         for n in ("rq_out_valid", "u_sequencer.layer_q", "rq_tag", "rq_out")))
        self.outputs: dict[str, list[tuple[int, int]]] = {name: [] for name in FC_LAYERS}
        self._task = cocotb.start_soon(self._run())

    async def _run(self):
        while True:
            await RisingEdge(self.clk)
            if int(self.valid.value):
                self.outputs[FC_LAYERS[int(self.layer.value)]].append(
                    (int(self.tag.value), int(self.data.value)))

    def stop(self):
        self._task.cancel()

    def compare(self, ref: dict, count: int, offset: int, first_bad: dict, max_msgs: int = 8) -> list[str]:
        """Messages for every fc neuron that differs from ``ref`` (``forward`` output);
        ``first_bad[n]`` gets the first difference of image n unless an earlier stage has one."""
        errors = []
        for layer in FC_LAYERS:
            n_out = ref[layer].shape[1]
            recs = self.outputs[layer]
            if len(recs) != count * n_out:
                errors.append(f"layer {layer}: {len(recs)} neurons for {count} images, expected {n_out} each")
                continue
            for n in range(count):
                tag = f"image {n} (test set index {offset + n}) layer {layer}"
                got = dict(recs[n * n_out:(n + 1) * n_out])
                if sorted(got) != list(range(n_out)):
                    errors.append(f"{tag}: neurons {sorted(got)[:5]}... instead of 0..{n_out - 1} once each")
                    first_bad.setdefault(n, {"layer": layer, "detail": "neurons missing or repeated"})
                    continue
                bad = [(j, int(ref[layer][n][j]), got[j]) for j in range(n_out) if got[j] != ref[layer][n][j]]
                if bad:
                    j, e, a = bad[0]
                    first_bad.setdefault(n, {"layer": layer, "neuron": j, "expected": e, "actual": a,
                                             "differing": len(bad)})
                errors += [f"{tag} neuron {j}: expected {e} actual {a} (diff {a - e:+d})" for j, e, a in bad[:max_msgs]]
                if len(bad) > max_msgs:
                    errors.append(f"{tag}: ... {len(bad) - max_msgs} more mismatches")
        return errors


class FrameTimer:
    """Sim times (ns) of every image's first accepted pixel (``starts``) and last accepted
    result beat (``ends``) on the top's ports."""

    def __init__(self, dut):
        self.dut = dut
        self.starts: list[int] = []
        self.ends: list[int] = []
        self._task = cocotb.start_soon(self._run())

    async def _run(self):
        d, first = self.dut, True
        while True:
            await RisingEdge(d.clk_i)
            if int(d.s_axis_tvalid.value) and int(d.s_axis_tready.value):
                if first:
                    self.starts.append(get_sim_time("ns"))
                first = bool(int(d.s_axis_tlast.value))
            if int(d.m_axis_tvalid.value) and int(d.m_axis_tready.value) and int(d.m_axis_tlast.value):
                self.ends.append(get_sim_time("ns"))

    def stop(self):
        self._task.cancel()


async def wait_handshakes(clk, scope, prefix: str, count: int) -> None:
    """Return after ``count`` handshakes (tvalid && tready) on the stream ``<prefix>_t*`` of ``scope``.
    No timeout of its own: callers wrap it in ``with_timeout``."""
    valid, ready = getattr(scope, f"{prefix}_tvalid"), getattr(scope, f"{prefix}_tready")
    seen = 0
    while seen < count:
        await RisingEdge(clk)
        seen += int(valid.value) & int(ready.value)


async def run_stages(tb: TB, params, images: torch.Tensor, offset: int,
                     first_bad: dict | None = None) -> list[str]:
    """Stream ``images`` (uint8 ``[N, 28, 28]``) with every inter-stage stream monitored;
    compare with ``forward(params, images)``.

    Returns the mismatch messages (empty = bit exact at every stage and at the output);
    ``first_bad`` (optional) receives ``{image n: first difference}`` in pipeline order
    (conv1, pool1, conv2, pool2, fc1, fc2, fc3, output) with layer, channel/neuron, position,
    expected and actual.

    Raises:
        AssertionError: a monitored stream is missing from the DUT.
    """
    probes = {}
    for layer, (inst, prefix, _) in STAGES.items():
        try:
            sig = {s: dut_signal(tb.dut, f"{inst + '.' if inst else ''}{prefix}_t{s}")
                   for s in ("data", "valid", "ready")}
        except AttributeError as exc:
            raise AssertionError(f"stream {inst or 'top'}.{prefix}_t* for {layer} not found: {exc}") from exc
        probes[layer] = StreamProbe(tb.dut.clk_i, sig["data"], sig["valid"], sig["ready"])
    fc_probe = FcProbe(tb.dut)
    frames, _ = await tb.run_images(images, read_csrs=False)
    for p in (*probes.values(), fc_probe):
        p.stop()
    ref = forward(params, images)
    errors = []
    first_bad = {} if first_bad is None else first_bad
    for layer, (_, _, (c, h, w)) in STAGES.items():
        beats = probes[layer].beats
        if len(beats) != len(images) * h * w:
            errors.append(f"layer {layer}: {len(beats)} beats for {len(images)} images, expected {h * w} each")
            for n in range(len(images)):
                first_bad.setdefault(n, {"layer": layer, "detail": f"{len(beats)} beats in all"})
            continue
        for n in range(len(images)):
            first = {}
            errors += compare_stage(layer, ref[layer][n], beats[n * h * w:(n + 1) * h * w], n, offset,
                                    first=first)
            if first:
                first_bad.setdefault(n, first)
    errors += fc_probe.compare(ref, len(images), offset, first_bad)
    out_errors = compare_results(ref, frames, offset)
    for n, beats in enumerate(frames):
        if n not in first_bad and beats != [int(ref["class"][n])] + ref["fc3"][n].tolist():
            first_bad[n] = {"layer": "output", "detail": "result stream differs, every stage matched"}
    if first_bad:  # the first differing stage localizes the fault
        errors.insert(0, "first differing stage: " + ", ".join(
            f"image {n} (index {offset + n}) {describe_diff(d)}" for n, d in sorted(first_bad.items())))
    return errors + out_errors
