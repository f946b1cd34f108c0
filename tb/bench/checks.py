"""Result and stage comparisons shared by the end-to-end benches (the top's, ``tb/bench/top.py``,
and the regression harness's, ``tb/test_regress.py``).

Expected values come from ``model.reference.forward`` or PyTorch's quantized model; this
module only compares and reports. Every message names the image (its index in the batch and
in the test set), the layer, and the channel/neuron and position that differ, with expected,
actual and the difference.
"""
from __future__ import annotations

from pathlib import Path

import torch

from model.network import RESULT_BEATS
from model.quantize import load_quantized, torch_layer_outputs
from model.reference import forward

__all__ = ["RESULT_BEATS", "torch_quantized_outputs", "compare_results", "fail_report", "expected_results",
           "check_frames", "compare_stage", "describe_diff"]


def torch_quantized_outputs(params_dir: Path, images: torch.Tensor) -> dict | None:
    """fc3 codes and class of PyTorch's quantized model (qnnpack) when the parameter folder
    holds one (``quantized_state_dict.pt``, written by model.quantize); else None.

    Args:
        images: uint8 ``[N, 28, 28]``.

    Returns:
        ``model.quantize.torch_layer_outputs`` of the model: ``class`` int64 ``[N]``, ``fc3``
        int64 ``[N, 10]`` (uint8 codes), and the other layers' outputs.
    """
    qpath = Path(params_dir) / "quantized_state_dict.pt"
    if not qpath.is_file():
        return None
    return torch_layer_outputs(load_quantized(qpath), images)


def compare_results(ref: dict, frames: list[list[int]], offset: int) -> list[str]:
    """Messages for every image whose result beats differ from the reference.

    Args:
        ref: ``class`` ``[N]`` and ``fc3`` ``[N, 10]`` (``forward`` or torch outputs).
        frames: per image the m_axis beats: class, then fc3 codes 0..9 (``RESULT_BEATS``).
        offset: test-set index of image 0 (for the messages).
    """
    errors = []
    for n, beats in enumerate(frames):
        tag = f"image {n} (test set index {offset + n})"
        exp_fc3 = ref["fc3"][n].tolist()
        exp_cls = int(ref["class"][n])
        if len(beats) != RESULT_BEATS:
            errors.append(f"{tag}: {len(beats)} result beats, expected {RESULT_BEATS} (tlast misplaced)")
            continue
        if beats[0] != exp_cls:
            errors.append(f"{tag}: layer argmax class expected {exp_cls} actual {beats[0]}")
        for j, (e, a) in enumerate(zip(exp_fc3, beats[1:])):
            if e != a:
                errors.append(f"{tag}: layer fc3 neuron {j} expected {e} actual {a} (diff {a - e:+d})")
    return errors


def fail_report(errors: list[str], what: str = "vs model.reference.forward", max_msgs: int = 40) -> str:
    """One assertion message: the count, the first ``max_msgs`` mismatches, how many more."""
    more = f"\n  ... {len(errors) - max_msgs} more" if len(errors) > max_msgs else ""
    return f"{len(errors)} mismatches {what}:\n  " + "\n  ".join(errors[:max_msgs]) + more


def expected_results(params, images: torch.Tensor) -> list[list[int]]:
    """Result frames of ``model.reference.forward``: ``[class, fc3 codes 0..9]`` per image
    (ints; ``images`` uint8 ``[N, 28, 28]``)."""
    ref = forward(params, images)
    return [[int(c)] + f for c, f in zip(ref["class"].tolist(), ref["fc3"].tolist())]


def check_frames(params, images: torch.Tensor, frames: list[list[int]], offset: int) -> list[str]:
    """:func:`compare_results` of ``frames`` against ``forward(params, images)``."""
    return compare_results(forward(params, images), frames, offset)


def compare_stage(layer: str, ref: torch.Tensor, beats: list[int], image: int, offset: int,
                  max_msgs: int = 8, first: dict | None = None) -> list[str]:
    """Compare the beats of one image on an inter-stage stream with the reference.

    Args:
        layer: the ``forward`` output the stream carries (``conv1``, ``pool1``, ...).
        ref: int64 ``[C, H, W]`` codes 0..255.
        beats: tdata per pixel in raster order, channel ``c`` in bits ``[8c + 7 : 8c]``.
        image, offset: the image's index in the batch and the test-set index of image 0.
        first: receives the earliest differing element in stream order (row, column, then
            channel): ``layer``, ``channel``, ``row``, ``col``, ``expected``, ``actual``,
            ``differing``; or ``layer`` and ``detail`` for a wrong beat count.

    Returns:
        one message per differing element (at most ``max_msgs``, then a count).
    """
    c, h, w = ref.shape
    tag = f"image {image} (test set index {offset + image}) layer {layer}"
    if len(beats) != h * w:
        if first is not None:
            first.update(layer=layer, detail=f"{len(beats)} beats, expected {h * w}")
        return [f"{tag}: {len(beats)} beats, expected {h * w}"]
    got = torch.tensor([[(b >> (8 * ch)) & 0xFF for ch in range(c)] for b in beats],
                       dtype=torch.int64).T.reshape(c, h, w)
    diff = (got != ref).nonzero().tolist()
    if diff and first is not None:
        ch, y, x = min(diff, key=lambda d: (d[1], d[2], d[0]))
        first.update(layer=layer, channel=ch, row=y, col=x, expected=int(ref[ch, y, x]),
                     actual=int(got[ch, y, x]), differing=len(diff))
    errors = []
    for ch, y, x in diff:
        e, a = int(ref[ch, y, x]), int(got[ch, y, x])
        errors.append(f"{tag} channel {ch} position (row {y}, col {x}): expected {e} actual {a} "
                      f"(diff {a - e:+d})")
    if len(errors) > max_msgs:
        errors = errors[:max_msgs] + [f"{tag}: ... {len(errors) - max_msgs} more mismatches"]
    return errors


def describe_diff(d: dict) -> str:
    """One line for a first difference (:func:`compare_stage`'s ``first``, or an fc neuron's)."""
    where = ""
    if "channel" in d:
        where = f" channel {d['channel']} position (row {d['row']}, col {d['col']})"
    elif "neuron" in d:
        where = f" neuron {d['neuron']}"
    vals = (f": expected {d['expected']} actual {d['actual']} (diff {d['actual'] - d['expected']:+d}; "
            f"{d['differing']} elements differ in this layer)") if "expected" in d else ""
    return f"layer {d['layer']}{where}{vals}{(' ' + d['detail']) if 'detail' in d else ''}"
