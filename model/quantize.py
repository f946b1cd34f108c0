"""Post-training static int8 quantization of FashionLeNet and extraction of the integer
parameters the RTL runs with.

Quantization (``torch.ao.quantization``, eager mode, engine ``qnnpack``):

* conv+ReLU and linear+ReLU fused (``fuse_modules``);
* input fixed at scale 1/255, zero point 0 (``FixedQParamsObserver``): the pixel byte is
  the quantized input;
* activations quint8 over 0..255 (``HistogramObserver``, ``reduce_range=False``);
* weights qint8 symmetric per output channel (``PerChannelMinMaxObserver``,
  ``per_channel_symmetric``), weight zero point 0;
* calibrated on training images.

Integer parameters (:func:`integer_params`) follow what PyTorch's QNNPACK path computes
at run time (``aten/src/ATen/native/quantized/cpu/qconv.cpp`` /``qlinear.cpp``):
``bias_q = quantize_per_channel(bias, s_w * s_in, 0, qint32)`` (``quant_utils::QuantizeBias``)
and the float32 requant scale ``(s_w * s_in) * (1 / s_out)``
(``generate_requantization_scales``), split into ``m24 * 2**-shift``.

Usage::

    python -m model.quantize --checkpoint model/artifacts/fashion_lenet.pt --out model/artifacts/export
"""
from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import torch
from torch.ao import quantization as tq

from model.data import DatasetMissingError, load_images
from model.network import LAYER_NAMES, PADDING, RELU
from model.net import (
    FUSE_GROUPS,
    CheckpointError,
    FashionLeNet,
    load_checkpoint,
    load_state_dict,
)
from model.params import ExportError, load_params, write_params
from model.reference import float32_to_m24_shift, LayerParams
from model.settings import (CHECKPOINT, EXPORT_DIR, TRAIN_IMAGES, ArgumentParser, SettingError, one_line,
                            print_error)
from model.train import accuracy

# torch 2.14.1 (pinned in requirements.txt) deprecates the eager torch.ao.quantization flow and
# the quantized dtypes it creates; the migration path is torchao's pt2e flow (prepare_pt2e,
# convert_pt2e). This eager qnnpack flow is the arithmetic the RTL reproduces, so exactly these
# notes are silenced (the third comes from torch.load of quantized tensors); every other
# warning still shows.
warnings.filterwarnings("ignore", r"torch\.ao\.quantization is deprecated", DeprecationWarning)
warnings.filterwarnings("ignore", r"torch\.quantize_per_tensor, torch\.quantize_per_channel and other "
                        r"quantized tensor creation functions", UserWarning)
warnings.filterwarnings("ignore", r"TypedStorage is deprecated", UserWarning)

ENGINE = "qnnpack"
INPUT_SCALE = 1.0 / 255.0
CALIBRATION_IMAGES = 2000


def set_engine() -> None:
    """Pin the quantized engine to QNNPACK (the arithmetic the RTL reproduces)."""
    if ENGINE not in torch.backends.quantized.supported_engines:
        raise RuntimeError(f"this PyTorch build has no {ENGINE} engine")
    torch.backends.quantized.engine = ENGINE


def qconfigs():
    """``(network QConfig, input QConfig)`` used for FashionLeNet."""
    weight = tq.PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
    act = tq.HistogramObserver.with_args(dtype=torch.quint8, qscheme=torch.per_tensor_affine,
                                         reduce_range=False, quant_min=0, quant_max=255)
    fixed_in = tq.FixedQParamsObserver.with_args(scale=INPUT_SCALE, zero_point=0, dtype=torch.quint8,
                                                 quant_min=0, quant_max=255)
    return tq.QConfig(activation=act, weight=weight), tq.QConfig(activation=fixed_in, weight=weight)


def prepare_model(model: FashionLeNet) -> torch.nn.Module:
    """Fused, observer-equipped copy of a float model (eval mode)."""
    set_engine()
    m = copy.deepcopy(model).eval()
    tq.fuse_modules(m, FUSE_GROUPS, inplace=True)
    m.qconfig, m.quant.qconfig = qconfigs()
    tq.prepare(m, inplace=True)
    return m


def quantize(model: FashionLeNet, calib_images: torch.Tensor) -> torch.nn.Module:
    """Post-training static quantization.

    Args:
        model: float FashionLeNet.
        calib_images: uint8 ``[N, 28, 28]`` training images for calibration.
    Returns:
        the converted quantized module (runs on the qnnpack engine).
    """
    m = prepare_model(model)
    with torch.no_grad():
        for i in range(0, len(calib_images), 500):
            m(calib_images[i:i + 500].unsqueeze(1).float() / 255.0)
    return tq.convert(m, inplace=False)


def load_quantized(path: Path | str) -> torch.nn.Module:
    """Rebuild a quantized FashionLeNet from the state_dict :func:`export` saves
    (``quantized_state_dict.pt``; ``torch.load(weights_only=True)``).

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: not a state_dict of the quantized FashionLeNet (one-line message).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: quantized model missing")
    m = prepare_model(FashionLeNet())
    with warnings.catch_warnings():  # observers are empty: the state_dict sets every qparam
        warnings.filterwarnings("ignore", message="must run observer")
        q = tq.convert(m, inplace=False)
    state = load_state_dict(path)
    try:
        q.load_state_dict(state)
    except Exception as exc:  # RuntimeError listing every missing/unexpected key on many lines
        detail = "; ".join(ln.strip() for ln in str(exc).splitlines()[1:3] if ln.strip()) or one_line(exc)
        raise CheckpointError(f"{path} is not a quantized FashionLeNet state_dict: {detail[:300]}") from exc
    return q


def _layer_input_scales(q: torch.nn.Module) -> dict[str, tuple[float, int]]:
    s, z = float(q.quant.scale), int(q.quant.zero_point)
    out = {}
    for name in LAYER_NAMES:  # max pool and flatten keep (scale, zero point)
        out[name] = (s, z)
        mod = getattr(q, name)
        s, z = float(mod.scale), int(mod.zero_point)
    return out


def integer_params(q: torch.nn.Module) -> dict[str, LayerParams]:
    """Integer parameters of every conv/linear layer of a quantized FashionLeNet.

    Raises:
        ValueError: a layer the hardware cannot run (non-zero weight zero point, a requant
            scale outside (0, 1), a bias outside int32).
    """
    params = {}
    for name, (s_in, zp_in) in _layer_input_scales(q).items():
        mod = getattr(q, name)
        w = mod.weight()
        if w.qscheme() in (torch.per_channel_symmetric, torch.per_channel_affine):
            w_scales = w.q_per_channel_scales().to(torch.float64)
            w_zps = w.q_per_channel_zero_points()
        else:
            w_scales = torch.full((w.shape[0],), w.q_scale(), dtype=torch.float64)
            w_zps = torch.full((w.shape[0],), w.q_zero_point())
        if (w_zps != 0).any():
            raise ValueError(f"{name}: weight zero points must be 0 (symmetric), got {w_zps.tolist()}")
        bias = mod.bias().detach().float()
        # quant_utils::QuantizeBias: double scales s_w * s_in, zero point 0, qint32
        bias_q = torch.quantize_per_channel(bias, w_scales * s_in, torch.zeros_like(w_zps),
                                            0, torch.qint32).int_repr().to(torch.int64)
        # generate_requantization_scales: float32 (s_w * s_in) * (1.f / s_out)
        s_out = float(mod.scale)
        rq = (w_scales.float() * torch.tensor(s_in, dtype=torch.float32)) * (
            torch.tensor(1.0, dtype=torch.float32) / torch.tensor(s_out, dtype=torch.float32))
        m24, shift = zip(*(float32_to_m24_shift(v) for v in rq.tolist()))
        params[name] = LayerParams(
            name=name, weight=w.int_repr().to(torch.int64), bias_q=bias_q,
            m24=torch.tensor(m24, dtype=torch.int64), shift=torch.tensor(shift, dtype=torch.int64),
            zp_in=zp_in, zp_out=int(mod.zero_point), relu=RELU[name], padding=PADDING[name],
            scale_out=s_out, scale_in=s_in, weight_scales=w_scales.tolist(),
        )
    return params


@torch.no_grad()
def torch_layer_outputs(q: torch.nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every layer's output of PyTorch's own quantized model, as int64 quint8 codes.

    Args:
        images: uint8 ``[N, 28, 28]``.
    Returns:
        same keys and shapes as :func:`model.reference.forward` (``input`` .. ``fc3``, ``class``).
    """
    set_engine()
    x = q.quant(images.unsqueeze(1).float() / 255.0)
    out = {"input": x.int_repr().to(torch.int64)}
    for name in ("conv1", "pool1", "conv2", "pool2"):
        x = getattr(q, name)(x)
        out[name] = x.int_repr().to(torch.int64)
    x = q.flatten(x)
    for name in ("fc1", "fc2", "fc3"):
        x = getattr(q, name)(x)
        out[name] = x.int_repr().to(torch.int64)
    out["class"] = out["fc3"].argmax(dim=1)
    return out


def check_export_dir(export_dir: Path | str) -> dict:
    """Everything a simulation reads from an export folder, checked before any build: the
    parameters (:func:`model.params.load_params`: manifest, every ``.mem`` file's presence,
    value count, sha256, the shapes and values the hardware holds) and, when present,
    ``quantized_state_dict.pt`` (PyTorch's quantized model, the other end of the comparison).

    Returns:
        the parameters, as :func:`model.params.load_params`.

    Raises:
        model.params.ParamsError: a bad parameter file or manifest (one line naming the file).
        model.net.CheckpointError: a quantized_state_dict.pt that does not load.
    """
    export_dir = Path(export_dir)
    params = load_params(export_dir)
    qpath = export_dir / "quantized_state_dict.pt"
    if qpath.is_file():
        load_quantized(qpath)
    return params


def model_bytes(model: torch.nn.Module) -> int:
    """Size of a model's serialized state_dict in bytes."""
    import io
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getbuffer().nbytes


EXPORT_FILES = ("quantized_state_dict.pt", "manifest.json", "report.json")  # besides the .mem files


def check_out_dir(out_dir: Path) -> None:
    """``out_dir`` can receive an export: a folder or nothing yet, its parent a folder.

    Raises:
        SettingError: naming ``--out`` and the problem.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise SettingError(f"--out {out_dir}: exists and is not a folder")
    parent = out_dir.resolve().parent
    if not parent.is_dir():
        raise SettingError(f"--out {out_dir}: parent folder {parent} does not exist")


def _install(tmp: Path, out_dir: Path) -> None:
    """Move a finished export from ``tmp`` to ``out_dir``: one rename when ``out_dir`` does not
    exist, else file by file (``os.replace``, each atomic), manifest.json last."""
    if not out_dir.exists():
        os.replace(tmp, out_dir)
        return
    names = sorted(p.name for p in tmp.iterdir())
    names.sort(key=lambda n: n == "manifest.json")
    for name in names:
        os.replace(tmp / name, out_dir / name)
    tmp.rmdir()


def export(checkpoint: Path, out_dir: Path, calib: int = CALIBRATION_IMAGES, log=print) -> dict:
    """Quantize a float checkpoint and write the quantized model and the RTL export.

    Writes ``out_dir/quantized_state_dict.pt``, the ``.mem`` files, ``manifest.json`` and
    ``report.json`` (float and int8 accuracy on the 10,000 test images, sizes). Everything is
    computed and written into a temporary folder next to ``out_dir`` first and moved into
    ``out_dir`` only when complete: on any error ``out_dir`` is left as it was.

    Raises:
        FileNotFoundError / model.net.CheckpointError: bad checkpoint.
        SettingError: ``calib`` outside the training split, ``out_dir`` not a folder.
        model.params.ExportError: parameters the hardware cannot represent.
    """

    t0 = time.time()
    out_dir = Path(out_dir)
    if not 1 <= calib <= TRAIN_IMAGES:
        raise SettingError(f"--calib {calib}: calibration needs 1..{TRAIN_IMAGES} training images")
    check_out_dir(out_dir)
    model = load_checkpoint(checkpoint)
    train_x, _ = load_images(train=True, offset=0, count=calib)
    q = quantize(model, train_x)
    params = integer_params(q)
    test_x, test_y = load_images(train=False)
    float_acc = accuracy(model, test_x, test_y)
    q_acc = accuracy(q, test_x, test_y)
    param_bytes = sum(p.weight.numel() + 4 * p.bias_q.numel() for p in params.values())
    report = {
        "checkpoint": str(checkpoint),
        "engine": ENGINE,
        "calibration_images": calib,
        "float_test_accuracy": float_acc,
        "int8_test_accuracy": q_acc,
        "float_model_bytes": model_bytes(model),
        "int8_model_bytes": model_bytes(q),
        "float_parameter_bytes": 4 * sum(p.numel() for p in model.parameters()),
        "int8_parameter_bytes": param_bytes,
        "input_scale": float(q.quant.scale),
        "input_zero_point": int(q.quant.zero_point),
    }
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.resolve().parent))
    os.chmod(tmp, 0o755)  # mkdtemp's 0700 would become the export folder's mode
    try:
        torch.save(q.state_dict(), tmp / "quantized_state_dict.pt")
        write_params(params, tmp, extra={"input": {"scale": report["input_scale"], "zero_point": 0,
                                                   "shape": [28, 28], "dtype": "uint8"}})
        (tmp / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        _install(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"float accuracy {float_acc * 100:.2f}%  int8 accuracy {q_acc * 100:.2f}%  "
        f"float {report['float_parameter_bytes']} B -> int8 {param_bytes} B parameters  "
        f"({time.time() - t0:.0f} s) -> {out_dir}")
    return report


def main(argv=None) -> int:
    """Command line. Exit status 0, 2 on a bad argument or input file (``error: <one line>`` on
    stderr, nothing written), 1 when the data set is missing or a file cannot be written."""
    ap = ArgumentParser(prog="model.quantize",
                        description="Quantize a FashionLeNet checkpoint and export it for the RTL")
    ap.add_argument("--checkpoint", type=Path, default=CHECKPOINT)
    ap.add_argument("--out", type=Path, default=EXPORT_DIR)
    ap.add_argument("--calib", type=int, default=CALIBRATION_IMAGES)
    args = ap.parse_args(argv)
    try:
        export(args.checkpoint, args.out, args.calib)
    except (FileNotFoundError, CheckpointError, SettingError, ExportError, ValueError) as exc:
        print_error(exc)
        return 2
    except (DatasetMissingError, OSError) as exc:
        print_error(exc)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
