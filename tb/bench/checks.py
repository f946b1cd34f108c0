"""Result checks shared by the end-to-end benches (the top's, tb/test_top.py, and tb/test_regress.py).

Expected values come from ``model.reference.forward`` or PyTorch's quantized model; this
module only compares and reports.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported lazily: slow to import inside the simulator process
    import torch

RESULT_BEATS = 11  # per image on m_axis: class, fc3[0..9]


def torch_quantized_outputs(params_dir: Path, images: "torch.Tensor") -> dict | None:
    """fc3 codes and class of PyTorch's quantized model (qnnpack) when the parameter folder
    holds one (``quantized_state_dict.pt``, written by model.quantize); else None."""
    qpath = Path(params_dir) / "quantized_state_dict.pt"
    if not qpath.is_file():
        return None
    from model.quantize import load_quantized, torch_layer_outputs
    return torch_layer_outputs(load_quantized(qpath), images)


def compare_results(ref: dict, frames: list[list[int]], offset: int) -> list[str]:
    """Messages for every image whose result beats differ from the reference."""
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
