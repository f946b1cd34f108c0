"""The parameter files of the RTL: write, read, validate, and the AXI4-Lite writes that load them.

Per layer ``L`` in conv1, conv2, fc1, fc2, fc3 (``$readmemh`` files, one value per line):

* ``L_weight.mem``: int8 weights, 2 hex digits two's complement, PyTorch order
  (``[Cout][Cin][ky][kx]`` for conv, ``[Out][In]`` for linear);
* ``L_bias.mem``: int32 ``bias_q`` per output channel, 8 hex digits two's complement;
* ``L_requant.mem``: per output channel ``shift << 24 | m24`` (8 hex digits);
* ``L_zp.mem``: one line ``zp_out << 8 | zp_in`` (4 hex digits);

and ``manifest.json``: shapes, dtypes, scales, zero points, m24/shift, layouts, the
AXI4-Lite address of every memory and the sha256 of every file. Formats, codes and
addresses come from :mod:`model.network`; the arithmetic is :mod:`model.reference`'s.

fc1 consumes pool2 flattened in PyTorch order (channel, row, column); the RTL writes its
activation buffer at ``c * 36 + row * 6 + col``, so fc1's weights are exported unpermuted.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from model.network import (LAYER, LAYER_NAMES, PADDING, REGION, REGION_NAMES, REGIONS, RELU,
                           REQUANT_SHIFT_LSB, ZP_OUT_LSB, param_address)
from model.reference import LayerParams

# ------------------------------------------------------------------ writing

def param_words(p: LayerParams) -> dict[str, list[int]]:
    """The 32-bit words of every parameter memory of one layer, by region (``network.REGIONS``).

    These are what the ``.mem`` files hold (one word per line, narrower regions use the
    low bits), what the blocks' parameter ports take (``param_sel_i`` = region index,
    ``param_addr_i`` = list index) and what AXI4-Lite writes carry (:func:`axil_writes`):
    weight ``w & 0xFF`` (int8 two's complement), bias ``b & 0xFFFFFFFF``, requant
    ``shift << 24 | m24``, zp one word ``zp_out << 8 | zp_in``.
    """
    return {
        "weight": [int(w) & 0xFF for w in p.weight.flatten().tolist()],
        "bias": [int(b) & 0xFFFFFFFF for b in p.bias_q.tolist()],
        "requant": [(int(s) << REQUANT_SHIFT_LSB) | int(m) for s, m in zip(p.shift.tolist(), p.m24.tolist())],
        "zp": [(p.zp_out << ZP_OUT_LSB) | p.zp_in],
    }


def axil_writes(p: LayerParams) -> list[tuple[int, int]]:
    """``(byte address, data)`` of every AXI4-Lite write that loads layer ``p``."""
    return [(param_address(p.name, region, i), word)
            for region, words in param_words(p).items() for i, word in enumerate(words)]


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
    parameter memories): the layer shape of FashionLeNet (``model.network``), its fused ReLU and
    padding, weights int8, biases int32, ``2^23 <= m24 < 2^24``, ``24 <= shift <= 62``, zero points 0..255.

    Raises:
        ExportError: the first violation, with layer, field, index and value.
    """
    layer = LAYER.get(p.name)
    if layer is None:
        raise ExportError(f"{p.name}: not a FashionLeNet layer (expected one of {', '.join(LAYER_NAMES)})", "shape")
    if tuple(p.weight.shape) != layer.weight_shape:
        raise ExportError(f"{p.name}: weight shape {list(p.weight.shape)}, the hardware has "
                          f"{list(layer.weight_shape)}", "shape")
    cout = layer.out_channels
    for field in ("bias_q", "m24", "shift"):
        if tuple(getattr(p, field).shape) != (cout,):
            raise ExportError(f"{p.name}: {field} shape {list(getattr(p, field).shape)}, expected [{cout}]", "shape")
    _first_outside(p.name, "weight", p.weight, -128, 127)
    _first_outside(p.name, "bias_q", p.bias_q, -(1 << 31), (1 << 31) - 1)
    _first_outside(p.name, "m24", p.m24, 1 << 23, (1 << 24) - 1)
    _first_outside(p.name, "shift", p.shift, 24, 62)
    for field, hw in (("relu", RELU[p.name]), ("padding", PADDING[p.name])):
        if getattr(p, field) != hw:
            raise ExportError(f"{p.name}: {field} {getattr(p, field)!r}, the hardware has {hw!r}", "shape")
    for field in ("zp_in", "zp_out"):
        if not 0 <= int(getattr(p, field)) <= 255:
            raise ExportError(f"{p.name}: {field} = {getattr(p, field)} outside 0..255", field)


def write_layer(p: LayerParams, out_dir: Path) -> dict[str, str]:
    """Write the four ``.mem`` files of one layer; returns ``{file name: sha256}``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {f"{p.name}_{region}.mem": "".join(f"{w:0{REGION[region].digits}x}\n" for w in words)
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
    missing = [name for name in LAYER_NAMES if name not in params]
    if missing:
        raise ExportError(f"no parameters for {', '.join(missing)}")
    for name in LAYER_NAMES:
        check_representable(params[name])
    out_dir = Path(out_dir)
    manifest = {"format": "fashion-lenet-int8-v1", "layers": {}, "files": {}}
    manifest.update(extra or {})
    for name in LAYER_NAMES:
        p = params[name]
        digests = write_layer(p, out_dir)
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
            "axi_base": {r.name: param_address(name, r.name, 0) for r in REGIONS},
        }
        for fname, digest in digests.items():
            manifest["files"][fname] = {"sha256": digest}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


# ------------------------------------------------------------------ reading


def mem_files() -> list[str]:
    """The ``.mem`` files of an export folder, in manifest order (``conv1_weight.mem``, ...)."""
    return [f"{name}_{region}.mem" for name in LAYER_NAMES for region in REGION_NAMES]


class ParamsError(ValueError):
    """An export folder that is missing, incomplete or corrupted (one-line message naming the
    file and the problem)."""


def read_mem(path: Path, width_bits: int, count: int, signed: bool, expected: str = "") -> torch.Tensor:
    """Read a ``$readmemh`` file with one ``width_bits`` value per line.

    Args:
        expected: where ``count`` comes from, appended to the count message
            (e.g. ``"manifest weight_shape [6, 1, 3, 3]"``).

    Raises:
        ParamsError: missing file, wrong number of values, bad hex, value too wide.
    """
    if not path.is_file():
        raise ParamsError(f"{path}: parameter file missing")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ParamsError(f"{path}: unreadable ({exc})") from exc
    words = [ln.split("//")[0].strip() for ln in text.splitlines()]
    words = [w for w in words if w]
    if len(words) != count:
        raise ParamsError(f"{path}: {len(words)} values, expected {count}" + (f" ({expected})" if expected else ""))
    for line, w in enumerate(words, 1):
        try:
            v = int(w, 16)
        except ValueError:
            raise ParamsError(f"{path}: value {line} {w!r} is not hex") from None
        if v < 0 or v >> width_bits:
            raise ParamsError(f"{path}: value {line} {w!r} is wider than {width_bits} bits")
    t = torch.tensor([int(w, 16) for w in words], dtype=torch.int64)
    if signed:
        t = torch.where(t >= (1 << (width_bits - 1)), t - (1 << width_bits), t)
    return t


def read_manifest(export_dir: Path | str) -> dict:
    """``manifest.json`` of an export folder, checked for the tables :func:`load_params` reads.

    Raises:
        ParamsError: no such folder, no manifest, not JSON, not an export manifest.
    """
    export_dir = Path(export_dir)
    man_path = export_dir / "manifest.json"
    if not export_dir.is_dir():
        raise ParamsError(f"{export_dir}: no such parameter folder (an export folder holds manifest.json "
                          "and the .mem files: `make model` or `python -m model.quantize --out DIR`)")
    if not man_path.is_file():
        raise ParamsError(f"{man_path} is missing: run `make model` or "
                          "`python -m model.quantize --checkpoint CKPT --out DIR`")
    try:
        manifest = json.loads(man_path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ParamsError(f"{man_path}: not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("layers"), dict) \
            or not isinstance(manifest.get("files"), dict):
        raise ParamsError(f"{man_path}: not an export manifest (no 'layers' and 'files' tables)")
    for name in LAYER_NAMES:
        meta = manifest["layers"].get(name)
        if not isinstance(meta, dict):
            raise ParamsError(f"{man_path}: no entry for layer {name}")
        shape = meta.get("weight_shape")
        if not isinstance(shape, list) or not shape or not all(isinstance(d, int) and d > 0 for d in shape):
            raise ParamsError(f"{man_path}: {name} weight_shape {shape!r} is not a shape")
        for key, hw in (("relu", RELU[name]), ("padding", PADDING[name])):
            if meta.get(key, hw if key == "padding" else None) != hw:
                raise ParamsError(f"{man_path}: {name} {key} {meta.get(key)!r}, the hardware has {hw!r}")
    return manifest


def _sha256_entry(manifest: dict, man_path: Path, fname: str) -> str:
    meta = manifest["files"].get(fname)
    digest = meta.get("sha256") if isinstance(meta, dict) else None
    if not isinstance(digest, str):
        raise ParamsError(f"{man_path}: no sha256 for {fname}")
    return digest


def load_params(export_dir: Path | str, verify: bool = True) -> dict[str, LayerParams]:
    """Load the integer parameters written by :func:`write_params`, after checking them.

    Checks, in this order, each with a one-line :class:`ParamsError` naming the file: the
    folder and ``manifest.json`` (JSON, every layer, relu/padding as the hardware computes);
    every ``.mem`` file present with the number of values the manifest's shape needs, hex, no
    value wider than its memory; with ``verify``, its sha256 as listed in the manifest (every
    other file listed there too); the shapes against FashionLeNet and the values against what
    the hardware holds (:func:`check_representable`: m24, shift range).

    Raises:
        ParamsError: see above.
    """
    export_dir = Path(export_dir)
    man_path = export_dir / "manifest.json"
    manifest = read_manifest(export_dir)
    params = {}
    for name in LAYER_NAMES:
        meta = manifest["layers"][name]
        shape = meta["weight_shape"]
        cout = shape[0]
        n_weights = 1
        for d in shape:
            n_weights *= d
        spec = {"weight": (8, n_weights, True, f"manifest {name} weight_shape {shape}"),
                "bias": (32, cout, True, f"manifest {name}: {cout} output channels"),
                "requant": (32, cout, False, f"manifest {name}: {cout} output channels"),
                "zp": (16, 1, False, "")}
        vals = {}
        for region, (bits, count, signed, expected) in spec.items():
            path = export_dir / f"{name}_{region}.mem"
            vals[region] = read_mem(path, bits, count, signed, expected)
            if verify:
                want = _sha256_entry(manifest, man_path, path.name)
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                if digest != want:
                    raise ParamsError(f"{path}: sha256 {digest[:12]}... does not match the manifest ({want[:12]}...)")
        rq, zp = vals["requant"], vals["zp"]
        params[name] = LayerParams(
            name=name, weight=vals["weight"].reshape(shape), bias_q=vals["bias"], m24=rq & 0xFFFFFF,
            shift=rq >> 24, zp_in=int(zp[0] & 0xFF), zp_out=int(zp[0] >> 8), relu=RELU[name],
            padding=PADDING[name], scale_out=float(meta.get("scale_out", 0.0)),
            scale_in=float(meta.get("scale_in", 0.0)), weight_scales=list(meta.get("weight_scales", [])),
        )
        try:
            check_representable(params[name])
        except ExportError as exc:
            # shapes come from the manifest, values from the region's .mem file
            region = next((r.name for r in REGIONS if exc.field in r.fields), None)
            where = man_path if region is None else export_dir / f"{name}_{region}.mem"
            raise ParamsError(f"{where}: {exc}") from exc
    if verify:
        for fname in manifest["files"]:
            if fname not in mem_files():
                path = export_dir / fname
                if not path.is_file():
                    raise ParamsError(f"{path}: file listed in the manifest is missing")
                want = _sha256_entry(manifest, man_path, fname)
                if hashlib.sha256(path.read_bytes()).hexdigest() != want:
                    raise ParamsError(f"{path}: sha256 does not match the manifest")
    return params
