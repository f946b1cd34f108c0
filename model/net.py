"""FashionLeNet, the float network (81,194 parameters).

Shapes (N images): input float32 [N, 1, 28, 28] in [0, 1] (pixel / 255, no other
normalisation, so that the quantized input is the raw pixel byte).

=====  ==========================================  ==================
layer  operation                                   output
=====  ==========================================  ==================
conv1  Conv2d(1, 6, 3, padding=1) + ReLU            [N, 6, 28, 28]
pool1  MaxPool2d(2)                                [N, 6, 14, 14]
conv2  Conv2d(6, 16, 3) + ReLU                      [N, 16, 12, 12]
pool2  MaxPool2d(2)                                [N, 16, 6, 6]
flat   flatten (channel, row, column)              [N, 576]
fc1    Linear(576, 120) + ReLU                     [N, 120]
fc2    Linear(120, 84) + ReLU                      [N, 84]
fc3    Linear(84, 10)                              [N, 10] (logits)
=====  ==========================================  ==================
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from model.network import KERNEL, LAYER, POOL
from model.settings import one_line

NUM_PARAMETERS = 81_194
FUSE_GROUPS = [["conv1", "relu1"], ["conv2", "relu2"], ["fc1", "relu3"], ["fc2", "relu4"]]


def _conv(name: str) -> nn.Conv2d:
    layer = LAYER[name]
    return nn.Conv2d(layer.in_channels, layer.out_channels, KERNEL, padding=layer.padding)


def _linear(name: str) -> nn.Linear:
    layer = LAYER[name]
    return nn.Linear(layer.in_channels, layer.out_channels)


class FashionLeNet(nn.Module):
    """LeNet-style CNN for 28x28 Fashion-MNIST, with eager-mode quantization stubs."""

    def __init__(self) -> None:
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.conv1 = _conv("conv1")
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(POOL)
        self.conv2 = _conv("conv2")
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(POOL)
        self.flatten = nn.Flatten()
        self.fc1 = _linear("fc1")
        self.relu3 = nn.ReLU()
        self.fc2 = _linear("fc2")
        self.relu4 = nn.ReLU()
        self.fc3 = _linear("fc3")
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.quant(x)
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.flatten(x)
        x = self.relu3(self.fc1(x))
        x = self.relu4(self.fc2(x))
        x = self.fc3(x)
        return self.dequant(x)


class CheckpointError(ValueError):
    """A checkpoint that is not a FashionLeNet state_dict."""


def describe_load_error(exc: Exception, head: bytes = b"") -> str:
    """One line for a ``torch.load(weights_only=True)`` failure (PyTorch's are many lines).

    Args:
        head: the file's first bytes (``PK``: torch.save's zip format; pickle protocol 2+
            starts with 0x80).
    """
    text = str(exc)
    if head and not head.startswith((b"PK", b"\x80")):
        return "not a file written by torch.save"
    for line in text.splitlines():
        if "WeightsUnpickler error:" in line:
            detail = line.split("WeightsUnpickler error:", 1)[1].split(" was not an allowed global")[0].strip()
            return f"refused by weights_only=True: {detail} (a pickled object, not a state_dict of tensors)"
    if head.startswith(b"PK") or "PytorchStreamReader" in text:
        return f"truncated or corrupted ({type(exc).__name__}: {one_line(text).split('. ')[0]})"
    return f"{type(exc).__name__}: {one_line(exc)}"


def load_state_dict(path: Path | str) -> dict:
    """``torch.load(path, map_location="cpu", weights_only=True)`` with one-line errors.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: the file does not load with ``weights_only=True``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        with open(path, "rb") as f:
            head = f.read(4)
        raise CheckpointError(f"{path}: not a PyTorch checkpoint: {describe_load_error(exc, head)}") from exc


def load_checkpoint(path: Path | str) -> FashionLeNet:
    """Load a FashionLeNet float state_dict (``torch.load(weights_only=True)``).

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: the file is not a state_dict of this network (missing,
            unexpected or differently shaped tensors are listed, on one line).
    """
    path = Path(path)
    state = load_state_dict(path)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    model = FashionLeNet()
    expected = model.state_dict()
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state_dict, got {type(state).__name__}")
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    problems = [f"{k}: {type(state[k]).__name__}, not a tensor" for k in expected
                if k in state and not isinstance(state[k], torch.Tensor)]
    problems += [
        f"{k}: shape {tuple(state[k].shape)}, FashionLeNet needs {tuple(v.shape)}"
        for k, v in expected.items()
        if isinstance(state.get(k), torch.Tensor) and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing:
        problems.append(f"{len(missing)} missing ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected ({', '.join(map(str, unexpected[:3]))}"
                        f"{', ...' if len(unexpected) > 3 else ''})")
    if problems:
        raise CheckpointError(f"{path} is not a FashionLeNet checkpoint: " + "; ".join(problems[:6]))
    model.load_state_dict(state)
    return model
