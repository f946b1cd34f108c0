"""Integer reference of the quantized FashionLeNet: the exact arithmetic the RTL implements.

Everything here runs on PyTorch int64 tensors; no floating point is used at run time.
Values that are quantized activations are uint8 codes held in int64 (0..255).

Requantization (per output channel ``c``) reproduces PyTorch's QNNPACK kernels
(``aten/src/ATen/native/quantized/cpu/qnnpack``, q8conv/q8gemm "fp32" requantization:
``_mm_cvtepi32_ps`` -> ``_mm_mul_ps`` by the float32 scale -> ``_mm_cvtps_epi32`` ->
add output zero point -> clamp), in integers:

1. ``x = acc + bias_q[c]`` (int32);
2. ``x`` -> float32: if ``|x| >= 2**24``, ``|x|`` is rounded to 24 significant bits,
   half to even;
3. the float32 scale ``M = (s_w[c] * s_in) * (1 / s_out)`` is exactly ``m24 * 2**-shift``
   with ``2**23 <= m24 < 2**24``; ``p = x * m24`` exactly, then ``|p|`` is rounded to
   24 significant bits, half to even (the float32 multiply);
4. ``y = p / 2**shift`` rounded half to even (the float -> int32 conversion);
5. ``out = clamp(y + zp_out, lo, 255)`` with ``lo = zp_out`` after a fused ReLU, else 0.

The exporter only produces ``M < 1`` (``shift >= 24``), so ``|y| < 2**31`` and the
float -> int32 conversion never overflows, as in QNNPACK.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from model.network import IMAGE_SIZE

MANTISSA_BITS = 24


def _rne_shift_right(a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``a / 2**s`` rounded half to even, for ``a >= 0`` and ``0 <= s <= 62`` (int64)."""
    s = torch.as_tensor(s, dtype=torch.int64).expand_as(a)
    q = a >> s
    rem = a - (q << s)
    half = torch.where(s > 0, torch.ones_like(s) << (s - 1).clamp(min=0), torch.zeros_like(s))
    up = (s > 0) & ((rem > half) | ((rem == half) & ((q & 1) == 1)))
    return q + up.to(torch.int64)


def bit_length(a: torch.Tensor) -> torch.Tensor:
    """Bit length of non-negative int64 values (0 for 0), by binary search on shifts."""
    n = torch.zeros_like(a)
    for k in (32, 16, 8, 4, 2, 1):
        n = torch.where((a >> (n + k)) > 0, n + k, n)
    return n + (a > 0).to(torch.int64)


def round_significand(v: torch.Tensor, bits: int = MANTISSA_BITS) -> torch.Tensor:
    """Round int64 ``v`` to ``bits`` significant bits, half to even, sign-magnitude.

    This is the exact value of the IEEE-754 binary32 rounding of an integer (``bits=24``),
    i.e. ``int(float32(v))`` for ``|v| < 2**62``.
    """
    a = v.abs()
    excess = (bit_length(a) - bits).clamp(min=0)
    r = _rne_shift_right(a, excess) << excess
    return torch.where(v < 0, -r, r)


def requantize(acc, bias_q, m24, shift, zp_out: int, relu: bool) -> torch.Tensor:
    """Requantize int32 accumulators to quint8 codes (see module docstring).

    Args:
        acc: int64 tensor of accumulators ``sum((x - zp_in) * w)``, any shape.
        bias_q, m24, shift: int64 tensors broadcastable to ``acc`` (per-channel values).
        zp_out: output zero point, 0..255.
        relu: fused ReLU (lower clamp at ``zp_out``).

    Returns:
        int64 tensor of ``acc``'s shape with values in 0..255.
    """
    acc = torch.as_tensor(acc, dtype=torch.int64)
    x = round_significand(acc + torch.as_tensor(bias_q, dtype=torch.int64))
    p = round_significand(x * torch.as_tensor(m24, dtype=torch.int64))
    shift = torch.as_tensor(shift, dtype=torch.int64).expand_as(p)
    y = _rne_shift_right(p.abs(), shift)
    y = torch.where(p < 0, -y, y)
    return (y + zp_out).clamp(min=zp_out if relu else 0, max=255)


def float32_to_m24_shift(scale: float) -> tuple[int, int]:
    """Decompose a float32 value ``0 < scale < 1`` as ``m24 * 2**-shift``, ``2**23 <= m24 < 2**24``.

    Raises:
        ValueError: ``scale`` is not a normal float32 in (0, 1), or ``shift > 62``.
    """
    f = torch.tensor(scale, dtype=torch.float32)
    mant, exp = torch.frexp(f)  # f = mant * 2**exp, 0.5 <= mant < 1
    if not (0.0 < f.item() < 1.0):
        raise ValueError(f"requant scale {f.item()!r} must lie in (0, 1)")
    m24 = int((mant.double() * (1 << MANTISSA_BITS)).item())
    shift = MANTISSA_BITS - int(exp.item())
    if not (1 << 23) <= m24 < (1 << 24) or not 24 <= shift <= 62:
        raise ValueError(f"requant scale {f.item()!r} gives m24={m24}, shift={shift}: not representable")
    return m24, shift


# --------------------------------------------------------------------------- layers

def conv3x3_acc(x: torch.Tensor, weight: torch.Tensor, zp_in: int, padding: int) -> torch.Tensor:
    """Integer 3x3 convolution, stride 1: ``acc[n,o,y,x] = sum (ifmap - zp_in) * w``.

    Padding pixels hold ``zp_in`` (the quantized zero), as in QNNPACK's zero buffer.

    Args:
        x: int64 ``[N, Cin, H, W]`` uint8 codes.
        weight: int64 ``[Cout, Cin, 3, 3]`` int8 values.
    Returns:
        int64 ``[N, Cout, H + 2*padding - 2, W + 2*padding - 2]``.
    """
    xc = x.to(torch.int64) - zp_in
    if padding:
        xc = torch.nn.functional.pad(xc, (padding,) * 4, value=0)
    win = xc.unfold(2, 3, 1).unfold(3, 3, 1)  # [N, Cin, Ho, Wo, 3, 3]
    return torch.einsum("nchwij,ocij->nohw", win, weight.to(torch.int64))


def maxpool2x2(x: torch.Tensor) -> torch.Tensor:
    """2x2 max pool, stride 2, on int64 ``[N, C, H, W]`` (H, W even)."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).amax(dim=(3, 5))


def linear_acc(x: torch.Tensor, weight: torch.Tensor, zp_in: int) -> torch.Tensor:
    """``acc[n, o] = sum_i (x[n, i] - zp_in) * w[o, i]``; int64 ``[N, In]`` x ``[Out, In]``."""
    return (x.to(torch.int64) - zp_in) @ weight.to(torch.int64).T


def argmax_first(x: torch.Tensor) -> torch.Tensor:
    """Index of the largest value along the last dim; ties go to the lowest index
    (as ``torch.argmax`` documents for the first occurrence)."""
    n = x.shape[-1]
    idx = torch.arange(n, dtype=torch.int64)
    best = x.amax(dim=-1, keepdim=True)
    return torch.where(x == best, idx, n).amin(dim=-1)


@dataclass
class LayerParams:
    """Integer parameters of one conv/linear layer.

    weight: int64 ``[Cout, Cin, 3, 3]`` or ``[Out, In]``, int8 range; zero point 0.
    bias_q, m24, shift: int64 ``[Cout]``.
    zp_in, zp_out: 0..255. relu: fused ReLU. padding: conv only.
    scale_in, scale_out, weight_scales: the float scales they came from (information only:
    the integer arithmetic never reads them).
    """
    name: str
    weight: torch.Tensor
    bias_q: torch.Tensor
    m24: torch.Tensor
    shift: torch.Tensor
    zp_in: int
    zp_out: int
    relu: bool
    padding: int = 0
    scale_out: float = field(default=0.0, compare=False)
    scale_in: float = field(default=0.0, compare=False)
    weight_scales: list = field(default_factory=list, compare=False)

    def requantize(self, acc: torch.Tensor, channel_dim: int = 1) -> torch.Tensor:
        shape = [1] * acc.dim()
        shape[channel_dim] = -1
        return requantize(acc, self.bias_q.view(shape), self.m24.view(shape), self.shift.view(shape),
                          self.zp_out, self.relu)


def forward(params: dict[str, LayerParams], images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Run the integer network on a batch.

    Args:
        params: ``{"conv1": LayerParams, ..., "fc3": ...}`` (``model.params.load_params``).
        images: uint8 ``[N, 28, 28]`` (the quantized input: scale 1/255, zero point 0).

    Returns:
        int64 tensors: ``input`` [N,1,28,28], ``conv1`` [N,6,28,28], ``pool1`` [N,6,14,14],
        ``conv2`` [N,16,12,12], ``pool2`` [N,16,6,6], ``fc1`` [N,120], ``fc2`` [N,84],
        ``fc3`` [N,10] (quint8 codes), ``class`` [N].
    """
    out = {"input": images.to(torch.int64).reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE)}
    x = out["input"]
    for conv, pool in (("conv1", "pool1"), ("conv2", "pool2")):
        p = params[conv]
        x = p.requantize(conv3x3_acc(x, p.weight, p.zp_in, p.padding))
        out[conv] = x
        x = maxpool2x2(x)
        out[pool] = x
    x = x.flatten(1)  # PyTorch order: channel, row, column
    for fc in ("fc1", "fc2", "fc3"):
        p = params[fc]
        x = p.requantize(linear_acc(x, p.weight, p.zp_in), channel_dim=1)
        out[fc] = x
    out["class"] = argmax_first(out["fc3"])
    return out


def random_layer_params(name: str, weight_shape: tuple[int, ...], relu: bool, padding: int = 0,
                        gen: torch.Generator | None = None, zp_in: int | None = None) -> LayerParams:
    """Legal random integer parameters for stimulus (weights over the full int8 range
    -128..127, biases up to +-2**20, requant scales over the exporter's range).

    Args:
        weight_shape: ``(Cout, Cin, 3, 3)`` or ``(Out, In)``.
        gen: ``torch.Generator`` for reproducibility (seed it from the test's printed seed).
    """
    gen = gen or torch.Generator().manual_seed(0)
    cout = weight_shape[0]
    fan_in = int(torch.tensor(weight_shape[1:]).prod())
    weight = torch.randint(-128, 128, weight_shape, generator=gen)
    bias = torch.randint(-(1 << 20), 1 << 20, (cout,), generator=gen)
    m24 = torch.randint(1 << 23, 1 << 24, (cout,), generator=gen)
    # scale ~ 255 / (typical |acc|) so that outputs cover 0..255 with some saturation
    base = max(24, 23 + (fan_in * 128 * 64).bit_length() - 8)
    shift = torch.randint(base - 2, base + 3, (cout,), generator=gen).clamp(24, 62)
    zi = int(torch.randint(0, 256, (1,), generator=gen)) if zp_in is None else zp_in
    zo = int(torch.randint(0, 256, (1,), generator=gen))
    return LayerParams(name=name, weight=weight, bias_q=bias, m24=m24, shift=shift,
                       zp_in=zi, zp_out=zo, relu=relu, padding=padding)
