"""Export the integer parameters of a quantized FashionLeNet for the RTL.

Per layer ``L`` in conv1, conv2, fc1, fc2, fc3 (``$readmemh`` files, one value per line):

* ``L_weight.mem``: int8 weights, 2 hex digits two's complement, PyTorch order
  (``[Cout][Cin][ky][kx]`` for conv, ``[Out][In]`` for linear);
* ``L_bias.mem``: int32 ``bias_q`` per output channel, 8 hex digits two's complement;
* ``L_requant.mem``: per output channel ``shift << 24 | m24`` (8 hex digits);
* ``L_zp.mem``: one line ``zp_out << 8 | zp_in`` (4 hex digits);

and ``manifest.json``: shapes, dtypes, scales, zero points, m24/shift, layouts, the
AXI4-Lite address of every memory and the sha256 of every file.

fc1 consumes pool2 flattened in PyTorch order (channel, row, column); the RTL writes its
activation buffer at ``c * 36 + row * 6 + col``, so fc1's weights are exported unpermuted.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from model.reference import LAYERS, LayerParams

# AXI4-Lite byte addresses (32-bit words, one element per word)
LAYER_BASE = {name: (i + 1) << 20 for i, name in enumerate(LAYERS)}
REGION_OFFSET = {"weight": 0x00000, "bias": 0x80000, "requant": 0xC0000, "zp": 0xF0000}


REGIONS = ("weight", "bias", "requant", "zp")  # index = the blocks' param_sel_i code


def param_words(p: LayerParams) -> dict[str, list[int]]:
    """The 32-bit words of every parameter memory of one layer, by region (``REGIONS``).

    These are what the ``.mem`` files hold (one word per line, narrower regions use the
    low bits), what the blocks' parameter ports take (``param_sel_i`` = region index,
    ``param_addr_i`` = list index) and what AXI4-Lite writes carry (:func:`axil_writes`):
    weight ``w & 0xFF`` (int8 two's complement), bias ``b & 0xFFFFFFFF``, requant
    ``shift << 24 | m24``, zp one word ``zp_out << 8 | zp_in``.
    """
    return {
        "weight": [int(w) & 0xFF for w in p.weight.flatten().tolist()],
        "bias": [int(b) & 0xFFFFFFFF for b in p.bias_q.tolist()],
        "requant": [(int(s) << 24) | int(m) for s, m in zip(p.shift.tolist(), p.m24.tolist())],
        "zp": [(p.zp_out << 8) | p.zp_in],
    }


def axil_writes(p: LayerParams) -> list[tuple[int, int]]:
    """``(byte address, data)`` of every AXI4-Lite write that loads layer ``p``."""
    base = LAYER_BASE[p.name]
    return [(base + REGION_OFFSET[region] + 4 * i, word)
            for region, words in param_words(p).items() for i, word in enumerate(words)]


MEM_DIGITS = {"weight": 2, "bias": 8, "requant": 8, "zp": 4}


class ExportError(ValueError):
    """Parameters the hardware cannot represent (the message names layer, field, index, value).

    ``field``: the LayerParams field at fault (``weight``, ``bias_q``, ``m24``, ``shift``,
    ``zp_in``, ``zp_out``), ``"shape"`` for a shape, None for a missing layer.
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def _first_outside(name: str, field: str, t, lo: int, hi: int) -> None:
    bad = ((t < lo) | (t > hi)).nonzero()
    if len(bad):
        idx = tuple(int(i) for i in bad[0])
        raise ExportError(f"{name}: {field}{list(idx)} = {int(t[idx])} outside {lo}..{hi} "
                          f"({len(bad)} value(s) out of range)", field)


def check_representable(p: LayerParams) -> None:
    """Check one layer against what the RTL stores and computes (hdl/requant.sv, the blocks'
    parameter memories): the layer shape of FashionLeNet (model/net.py), its fused ReLU and
    padding, weights int8, biases int32, ``2^23 <= m24 < 2^24``, ``24 <= shift <= 62``, zero points 0..255.

    Raises:
        ExportError: the first violation, with layer, field, index and value.
    """
    from model.net import FashionLeNet
    module = getattr(FashionLeNet(), p.name, None)
    if module is None:
        raise ExportError(f"{p.name}: not a FashionLeNet layer (expected one of {', '.join(LAYERS)})", "shape")
    if tuple(p.weight.shape) != tuple(module.weight.shape):
        raise ExportError(f"{p.name}: weight shape {list(p.weight.shape)}, the hardware has "
                          f"{list(module.weight.shape)}", "shape")
    cout = module.weight.shape[0]
    for field in ("bias_q", "m24", "shift"):
        if tuple(getattr(p, field).shape) != (cout,):
            raise ExportError(f"{p.name}: {field} shape {list(getattr(p, field).shape)}, expected [{cout}]", "shape")
    _first_outside(p.name, "weight", p.weight, -128, 127)
    _first_outside(p.name, "bias_q", p.bias_q, -(1 << 31), (1 << 31) - 1)
    _first_outside(p.name, "m24", p.m24, 1 << 23, (1 << 24) - 1)
    _first_outside(p.name, "shift", p.shift, 24, 62)
    from model.reference import PADDING, RELU
    for field, hw in (("relu", RELU[p.name]), ("padding", PADDING[p.name])):
        if getattr(p, field) != hw:
            raise ExportError(f"{p.name}: {field} {getattr(p, field)!r}, the hardware has {hw!r}", "shape")
    for field in ("zp_in", "zp_out"):
        if not 0 <= int(getattr(p, field)) <= 255:
            raise ExportError(f"{p.name}: {field} = {getattr(p, field)} outside 0..255", field)


def write_layer(p: LayerParams, out_dir: Path) -> dict[str, str]:
    """Write the four ``.mem`` files of one layer; returns ``{file name: sha256}``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {f"{p.name}_{region}.mem": "".join(f"{w:0{MEM_DIGITS[region]}x}\n" for w in words)
             for region, words in param_words(p).items()}
    digests = {}
    for fname, text in files.items():
        (out_dir / fname).write_text(text)
        digests[fname] = hashlib.sha256(text.encode()).hexdigest()
    return digests


def write_params(params: dict[str, LayerParams], out_dir: Path | str, extra: dict | None = None) -> dict:
    """Write every layer's ``.mem`` files and ``manifest.json`` into ``out_dir``.

    Returns:
        the manifest dict.

    Raises:
        ExportError: a layer is missing or not representable (:func:`check_representable`);
            checked before anything is written.
    """
    missing = [name for name in LAYERS if name not in params]
    if missing:
        raise ExportError(f"no parameters for {', '.join(missing)}")
    for name in LAYERS:
        check_representable(params[name])
    out_dir = Path(out_dir)
    manifest = {"format": "fashion-lenet-int8-v1", "layers": {}, "files": {}}
    manifest.update(extra or {})
    for name in LAYERS:
        p = params[name]
        digests = write_layer(p, out_dir)
        base = LAYER_BASE[name]
        manifest["layers"][name] = {
            "kind": "conv3x3" if p.weight.dim() == 4 else "linear",
            "weight_shape": list(p.weight.shape),
            "weight_layout": "[Cout][Cin][ky][kx]" if p.weight.dim() == 4 else "[Out][In]",
            "weight_dtype": "int8", "weight_zero_point": 0,
            "bias_dtype": "int32", "padding": p.padding, "relu": p.relu,
            "zp_in": p.zp_in, "zp_out": p.zp_out,
            "scale_in": p.scale_in, "scale_out": p.scale_out, "weight_scales": p.weight_scales,
            "requant_scale": "float32 (weight_scale * scale_in) * (1 / scale_out) = m24 * 2**-shift",
            "m24": p.m24.tolist(), "shift": p.shift.tolist(),
            "axi_base": {k: base + off for k, off in REGION_OFFSET.items()},
        }
        for fname, digest in digests.items():
            manifest["files"][fname] = {"sha256": digest}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def check_export_dir(export_dir: Path | str) -> dict:
    """Everything a simulation reads from an export folder, checked before any build: the
    parameters (:func:`model.reference.load_params`: manifest, every ``.mem`` file's presence,
    value count, sha256, the shapes and values the hardware holds) and, when present,
    ``quantized_state_dict.pt`` (PyTorch's quantized model, the other end of the comparison).

    Returns:
        the parameters, as :func:`model.reference.load_params`.

    Raises:
        model.reference.ParamsError: a bad parameter file or manifest (one line naming the file).
        model.net.CheckpointError: a quantized_state_dict.pt that does not load.
    """
    from model.reference import load_params
    export_dir = Path(export_dir)
    params = load_params(export_dir)
    qpath = export_dir / "quantized_state_dict.pt"
    if qpath.is_file():
        import warnings

        from model.quantize import load_quantized
        with warnings.catch_warnings():  # PyTorch's deprecation notes, not about this file
            warnings.simplefilter("ignore", UserWarning)
            load_quantized(qpath)
    return params
