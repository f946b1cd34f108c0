"""Parameter sets and images of the regression that are built for a purpose: the extreme
images and parameters, the whole random networks, the images of the held-sink runs, and the
probe networks that make a corner of one block visible at the fc3 outputs (requant corners,
rounding ties, MAC arrays, 33-bit sums, pools, the argmax), with the run settings the
regression tests and stage 1 of ``make mutate`` share.

Every network here is written once to ``sim_build/<name>_<content hash>``
(:func:`tb.bench.paramsets.export_once`; no torch model: compared with
``model.reference.forward`` only). A probe network is mostly zeros: run it on a DUT whose
parameter memories start at zero, writing only its nonzero words
(``tb.bench.harness.make_run(..., sparse=True)``).
"""
from __future__ import annotations

import random
from pathlib import Path

import torch

from model.data import load_images
from model.network import IMAGE_SIZE, LAYER, LAYER_NAMES
from model.params import load_params
from model.reference import LayerParams, conv3x3_acc, forward, linear_acc
from tb.bench.paramsets import export_once, random_network, resolve_params_dir
from tb.bench.requant_vectors import directed_vectors

# ------------------------------------------------------------------ run settings

RANDOM_NETWORK_SEEDS = (11, 12, 13)  # the whole random networks (random_network_dir)
# a slow result consumer: tready 1 cycle in 100, so one image's 11 result beats take ~1,100
# cycles while the next image (already in the fc input buffer) runs fc1
SLOW_SINK_PCTS = (0, 99)  # idle %, backpressure %
# a sink that holds each image's first result beat this long: the images behind it fill the
# pipeline (fc1 and fc2 of the next image finish, both fc input banks fill, conv stalls). Two
# lengths, one odd: a register that toggles while it waits is wrong after one of them.
SINK_HOLDS = (30_000, 30_001)
HELD_SINK_IMAGES = 6
POOL1_PROBE_STALLS = (30, 30)  # idle %, backpressure % of the pool1 probes (pool1_probe_network)
PROBE_IMAGE = 500  # the test image the probe networks see (directed_probes, tb/test_regress_probes.py)

# ------------------------------------------------------------------ extreme and random sets


def extreme_images() -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic corner images, then 4 real ones (test images 300..303).

    Returns:
        ``(uint8 [14, 28, 28], int64 labels [14])``: all 0, all 255, both checkerboards of
        0/255, a single 255 pixel in each corner and in the middle, a single 0 pixel in a 255
        image (label -1 for these 10), then the real images with their labels.
    """
    n, last = IMAGE_SIZE, IMAGE_SIZE - 1
    yy, xx = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    synth = [torch.zeros(n, n), torch.full((n, n), 255), (yy + xx) % 2 * 255, (yy + xx + 1) % 2 * 255]
    for y, x in ((0, 0), (0, last), (last, 0), (last, last), (13, 14)):
        hot = torch.zeros(n, n)
        hot[y, x] = 255
        synth.append(hot)
    synth.append(255 - synth[-1])
    real, labels = load_images(train=False, offset=300, count=4)
    return (torch.cat([torch.stack(synth).to(torch.uint8), real]),
            torch.cat([torch.full((len(synth),), -1, dtype=torch.int64), labels]))


def extreme_params_dir() -> Path:
    """Every layer's output channels at the limits the hardware takes, by channel ``c % 4``:
    0: weights all 127, bias 2^31 - 1, the largest scale (m24 = 2^24 - 1, shift 24);
    1: weights all -128, bias -2^31, the smallest scale (m24 = 2^23, shift 62);
    2: weights alternating 127 / -128, bias -2^31, the largest scale;
    3: random int8 weights, bias 2^31 - 1, the smallest scale.
    Zero points as the chained random network of seed 3 (:func:`tb.bench.paramsets.random_network`)
    draws them. Exported to ``sim_build/extreme_export_<hash>`` (no torch model for it)."""
    params = random_network(torch.Generator().manual_seed(3))
    largest, smallest = ((1 << 24) - 1, 24), (1 << 23, 62)
    for p in params.values():
        for c in range(p.weight.shape[0]):
            kind = c % 4
            if kind == 0:
                p.weight[c] = 127
            elif kind == 1:
                p.weight[c] = -128
            elif kind == 2:
                alt = torch.arange(p.weight[c].numel()).reshape(p.weight[c].shape) % 2 == 0
                p.weight[c] = torch.where(alt, 127, -128)
            p.bias_q[c] = (1 << 31) - 1 if kind in (0, 3) else -(1 << 31)
            p.m24[c], p.shift[c] = largest if kind in (0, 2) else smallest
    return export_once("extreme_export", params, "extreme parameters (tb.bench.probes), not a trained model")


def random_network_dir(seed: int) -> Path:
    """The chained random network ``tb.bench.paramsets.random_network`` draws from ``seed`` (every
    layer: int8 weights over -128..127, biases up to +-2^20, m24 over [2^23, 2^24) and shifts
    around each layer's typical scale, random zero points), exported to
    ``sim_build/random_export_<seed>_<hash>`` (no torch model for it)."""
    return export_once(f"random_export_{seed}", random_network(torch.Generator().manual_seed(seed)),
                       f"random parameters, seed {seed} (tb.bench.probes), not a trained model")


def held_sink_offset(count: int = HELD_SINK_IMAGES) -> int:
    """The first test image index where ``count`` consecutive real images differ pairwise at
    pool2's first pixel (``model.reference.forward`` of the trained parameters, all 16
    channels compared): an image written over another's fc input bank word then shows."""
    images, _ = load_images(train=False, offset=0, count=500)
    corner = forward(load_params(resolve_params_dir()), images)["pool2"][:, :, 0, 0]
    distinct = [len({tuple(corner[k].tolist()) for k in range(n, n + count)}) == count
                for n in range(len(images) - count)]
    if True not in distinct:
        raise AssertionError(f"no {count} consecutive test images among the first 500 differ at pool2[:, :, 0, 0]")
    return distinct.index(True)


# ------------------------------------------------------------------ probe networks

# requant probe networks: (probed layer, vectors per network, networks, zero points cycled)
PROBES = (("conv1", 6, 60, (0, 37)), ("conv2", 10, 40, (0, 50)), ("fc3", 10, 40, (128, 0, 255)))
UNITY = ((1 << 24) - 1, 24)  # m24, shift: y = x for |x| <= 255 (scale 1 - 2^-24)
POOL2_PIXELS = LAYER["conv2"].pooled_size ** 2  # pool2 pixels per channel (6 x 6), fc1's input order
# fc3 output patterns for the argmax: the last or a middle class ahead by 1, ties (the first
# maximum wins), each class ahead of a neighbour that differs in one bit
ARGMAX_PATTERNS = ([100] * 9 + [101], [100] * 9 + [99], [25 * n for n in range(10)], [0, 0, 0, 100, 0, 0, 0, 0, 0, 108],
                   [0] * 8 + [254, 255], [37] * 10, [200, 201, 202, 203, 204, 205, 206, 207, 208, 209],
                   [209, 208, 207, 206, 205, 204, 203, 202, 201, 200], [64, 0, 0, 0, 0, 0, 0, 0, 0, 65],
                   [127, 128, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 16, 0, 0, 0, 8], [3, 5, 9, 17, 33, 65, 129, 255, 254, 253])


def requant_probe_network(layer: str, vectors: list[tuple[int, int, int]], zp: int,
                          identity_pass: bool = False) -> dict:
    """A network whose fc3 outputs show the requantized outputs of ``layer``'s first
    ``len(vectors)`` channels, one vector ``(x, m24, shift)`` each.

    The probed layer has zero weights, so its accumulator is 0 and channel c computes
    ``requantize(x_c, m24_c, shift_c)`` with zero point ``zp`` (x_c is its bias): every
    corner of that requant instance becomes one stimulus (the vectors come from
    ``tb.bench.requant_vectors.directed_vectors``). The layers after it pass channel c to fc3 output c
    (weight 1 on the centre tap / the channel's first element, bias 0, scale ``UNITY``, zero
    points 0); layers before it have zero weights. conv1, conv2 and fc1/fc2/fc3 each have
    their own requant instance (fc1..fc3 share one), so probing conv1, conv2 and fc3 reaches
    all three. Negative conv outputs clamp at the zero point (ReLU), as in the hardware.
    ``identity_pass``: the first layer after ``layer`` adds ``zp`` as its bias, so it passes
    the code itself (v - zp + zp), not v - zp clamped at 0 by its ReLU: a code below the zero
    point shows.
    """
    params, zp_prev = {}, 0
    order = list(LAYER_NAMES)
    for name in order:
        shape, relu, padding = LAYER[name].weight_shape, LAYER[name].relu, LAYER[name].padding
        cout = shape[0]
        weight = torch.zeros(shape, dtype=torch.int64)
        bias = torch.zeros(cout, dtype=torch.int64)
        m24 = torch.full((cout,), UNITY[0], dtype=torch.int64)
        shift = torch.full((cout,), UNITY[1], dtype=torch.int64)
        zp_out = zp if name == layer else 0
        if name == layer:
            for c, (x, m, sh) in enumerate(vectors):
                bias[c], m24[c], shift[c] = x, m, sh
        elif order.index(name) > order.index(layer):
            for c in range(len(vectors)):  # pass channel c on
                if identity_pass and order.index(name) == order.index(layer) + 1:
                    bias[c] = zp
                if name == "conv2":
                    weight[c, c, 1, 1] = 1
                elif name == "fc1":
                    weight[c, c * POOL2_PIXELS] = 1  # pool2 flattened C x H x W: channel c starts at c * 36
                else:
                    weight[c, c] = 1
        params[name] = LayerParams(name=name, weight=weight, bias_q=bias, m24=m24, shift=shift,
                                   zp_in=zp_prev, zp_out=zp_out, relu=relu, padding=padding)
        zp_prev = zp_out
    return params


def near_tie_vectors(n: int, rng) -> list[tuple[int, int, int]]:
    """``n`` vectors ``(x, m24, shift)`` whose exact scaled value x * m24 / 2^shift lies next to
    a rounding boundary (y0 + 1/2 for y0 in 0..254), closer than the error of the earlier
    roundings (|x| and p to 24 significant bits): a requant that rounds x or p differently,
    or not at all, lands on the other side. Built in exact integers from the definition of
    the boundary, not from the requant arithmetic: x = round((y0 + 1/2) * 2^shift / m24), best
    of 64 random m24. Half have |x| >= 2^24 (x itself rounded), negative x one time in four."""
    out = []
    while len(out) < n:
        big = len(out) % 2 == 1
        shift = rng.randrange(47, 55) if big else rng.randrange(24, 47)
        y0 = rng.randrange(0, 255)
        target = (2 * y0 + 1) << (shift - 1)
        best = None
        for _ in range(64):
            m24 = rng.randrange(1 << 23, 1 << 24)
            x = (target + m24 // 2) // m24
            err = abs(x * m24 - target)
            if x < (1 << 31) and (best is None or err < best[0]):
                best = (err, x, m24)
        if best is None:
            continue
        _, x, m24 = best
        out.append((-x if rng.random() < 0.25 else x, m24, shift))
    return out


def rounding_tie_vectors() -> list[tuple[int, int, int]]:
    """Vectors ``(x, m24, shift)`` on which each requant rounding step decides the result.

    For k = 4..23 bits dropped when p = x * m24 is rounded to 24 significant bits
    (``model.reference.round_significand``): x exact (odd, < 2^24), p's dropped bits an exact
    half with an odd kept part q (ties to even: rounds up), and q's low r bits
    2^(r-1) - 1 with q >> r odd, r = shift - k: so p rounded up gives y = (q >> r) + 1, p rounded
    down, truncated or tied the other way gives q >> r. Built in exact integers (m24 = p's low
    bits times x^-1 mod 2^(k+r+1), x searched until 2^23 <= m24 < 2^24), y = 1..127; no such
    x exists for k = 1 (x = 3 only), and k = 24 is too rare to find (~2^-20). Then
    k = 0: x = 1 and m24 just above 2^23, y = 1 exactly and 0 if p lost any low bit."""
    out = [(1, (1 << 23) + 1, 24), (1, (1 << 23) + 5, 24)]
    for k in range(1, 24):
        r = max(24 - k, 17)  # shift = k + r >= 24, y = q >> r < 128
        mod = 1 << (k + r + 1)
        low = ((((1 << (r - 1)) - 1) | (1 << r)) << k) | (1 << (k - 1))
        lo, hi = 1 << (k - 1), min(1 << (k + 1), 1 << 24)
        rng = random.Random(k)
        xs = range(lo | 1, hi, 2) if hi - lo <= 1 << 12 else (rng.randrange(lo, hi) | 1 for _ in range(1 << 20))
        for x in xs:
            m24 = low * pow(x, -1, mod) % mod
            if (1 << 23) <= m24 < (1 << 24) and (x * m24).bit_length() == 24 + k:
                out.append((x, m24, k + r))
                break
    return out


def _constant_layer(params: dict, name: str, values: list[int], zp: int) -> None:
    """Make ``name`` (zero weights, unity scale) output ``values[c]`` on channel c everywhere:
    bias ``values[c] - zp``, zero point ``zp`` (also the next layer's zp_in)."""
    lp = params[name]
    lp.bias_q[:len(values)] = torch.tensor(values, dtype=torch.int64) - zp
    lp.zp_out = zp
    params[LAYER_NAMES[LAYER_NAMES.index(name) + 1]].zp_in = zp


def _constant_codes(gen, n: int, zp_high: int) -> tuple[int, list[int]]:
    """A random zero point in 0..``zp_high``-1 and ``n`` random codes in zp..255 (what a
    constant layer with ReLU can output): the per-channel constants of the probe networks."""
    zp = int(torch.randint(0, zp_high, (1,), generator=gen))
    return zp, (torch.randint(0, 256 - zp, (n,), generator=gen) + zp).tolist()


def mac_probe_network(layer: str, seed: int, free_zp_in: bool = False) -> dict:
    """A network that shows ``layer``'s multiply-accumulate exactly at the fc3 outputs.

    The layer before ``layer`` outputs random constants (0..255, per channel, random zero
    point); ``layer`` has random int8 weights over the whole range -128..127 and unity
    requant scale, and each output channel's bias is set to ``target - acc`` with ``acc``
    from ``model.reference`` (``conv3x3_acc`` / ``linear_acc``), so the output is ``target``
    (fc3: -100..100 around zero point 128; conv2: 1..200) only if every product and sum is
    right: an accumulator off by one shows. Layers after it pass channel c to fc3 output c.
    fc3 output 9 instead checks the 33-bit sum: bias -2^31 and acc -200 (|x| = 2^31 + 200,
    rounded to 24 bits, times m24 = 2^24 - 2, rounds up to 2^24 at the left-shift limit of
    requant stage 4), expected y = -256, clamped to 0. ``free_zp_in`` (conv2 only): conv2's
    input zero point is drawn independently of conv1's output zero point (0..255), so
    x - zp_in is negative as often as positive (with equal zero points it never is: ReLU)."""
    gen = torch.Generator().manual_seed(seed)
    prev = LAYER_NAMES[LAYER_NAMES.index(layer) - 1]
    n_out = 10
    params = requant_probe_network(layer, [(0, *UNITY)] * n_out, 128 if layer == "fc3" else 0)
    n_in = params[layer].weight.shape[1]
    zp, values = _constant_codes(gen, n_in, 60)
    _constant_layer(params, prev, values, zp)
    lp = params[layer]
    lp.weight[:n_out] = torch.randint(-128, 128, lp.weight[:n_out].shape, generator=gen)
    if layer == "fc3":
        values[0] = zp + 200
        _constant_layer(params, prev, values, zp)
        lp.weight[9] = 0
        lp.weight[9, 0] = -1
        acc = linear_acc(torch.tensor([values]), lp.weight, zp)[0]
        target = torch.randint(-100, 101, (n_out,), generator=gen)
    else:
        if free_zp_in:
            zp = lp.zp_in = int(torch.randint(0, 256, (1,), generator=gen))
        ifmap = torch.tensor(values).view(1, -1, 1, 1).expand(1, n_in, LAYER[layer].in_size, LAYER[layer].in_size)
        acc = conv3x3_acc(ifmap, lp.weight, zp, 0)[0, :, 0, 0]
        target = torch.randint(1, 201, (acc.shape[0],), generator=gen)
    lp.bias_q[:n_out] = (target - acc)[:n_out]
    if layer == "fc3":
        lp.bias_q[9] = -(1 << 31)
        lp.m24[9], lp.shift[9] = (1 << 24) - 2, 24
    return params


def mac_probe_fc1_network(seed: int, first: int) -> dict:
    """fc1's multiply-accumulate in every lane, at the fc3 outputs: pool2 carries random
    constants (per channel, random zero point), fc1 neurons ``first``..``first`` + 9 (lanes
    ``o mod Lanes``: 0..9 and 10..19 cover 18 lanes) have random int8 weights over all 576
    inputs, unity scale and bias ``target - acc`` (``model.reference.linear_acc``), target
    1..200; fc2 passes neuron ``first`` + k to k, fc3 passes k to k. A running sum off by one
    in any of the 576 steps shows."""
    gen = torch.Generator().manual_seed(100 + seed)
    params = requant_probe_network("fc1", [(0, *UNITY)] * 10, 0)
    zp, values = _constant_codes(gen, 16, 60)
    _constant_layer(params, "conv2", values, zp)
    fc1, fc2 = params["fc1"], params["fc2"]
    rows = slice(first, first + 10)
    fc1.weight[:] = 0
    fc1.weight[rows] = torch.randint(-128, 128, fc1.weight[rows].shape, generator=gen)
    x = torch.tensor(values).repeat_interleave(POOL2_PIXELS).view(1, -1)  # flatten order c*36 + p
    acc = linear_acc(x, fc1.weight[rows], zp)[0]
    fc1.bias_q[:] = 0
    fc1.bias_q[rows] = torch.randint(1, 201, (10,), generator=gen) - acc
    fc2.weight[:] = 0
    for k in range(10):
        fc2.weight[k, first + k] = 1
    return params


# conv1 wide-sum probe: channel 0 = pixel + (2^31 - 1), shown from the image centre
WIDE_CONV1 = ((1 << 31) - 1, (1 << 23) + 1, 55)
CENTRE_ROWS = slice(14, 18)  # conv1 rows/columns behind pool2 [3, 3]


# the same sum at scale 2^-32: y = x / 2^32 = 1/2 + (pixel - 1) / 2^32, which rounds to 0 only
# because x is first rounded to 24 bits (pixel - 1 < 128 is dropped, an exact tie to even)
WIDE_CONV1_TIE = ((1 << 31) - 1, 1 << 23, 55)


def wide_sum_conv1_network(vector: tuple[int, int, int] = WIDE_CONV1) -> dict:
    """conv1 channel 0 computes x = pixel + 2^31 - 1 (the 33-bit sum above int32) with the
    scale of :data:`WIDE_CONV1`: y = 1 for every pixel, through |x| >= 2^31 (pixel >= 1:
    x rounded at 8 dropped bits) or not (pixel 0: rounded up to 2^24 at 7). fc1 reads pool2
    [0, 3, 3], which sees conv1 rows and columns 14..17 (:data:`CENTRE_ROWS`)."""
    params = requant_probe_network("conv1", [vector], 0)
    params["conv1"].weight[0, 0, 1, 1] = 1
    params["fc1"].weight[0, 0] = 0
    params["fc1"].weight[0, 3 * 6 + 3] = 1
    return params


def wide_sum_image(high: int = 255, low: int = 1):
    """The first test image from 500 whose pixels behind pool2 [3, 3] all lie in ``low``..``high``
    (for :data:`WIDE_CONV1_TIE`: 1..129, every x rounds down to the tie 2^31, y = 0; 130..255,
    every x rounds up, y = 1)."""
    images, labels = load_images(train=False, offset=500, count=500)
    for n in range(len(images)):
        centre = images[n, CENTRE_ROWS, CENTRE_ROWS]
        if bool((centre >= low).all()) and bool((centre <= high).all()):
            return images[n:n + 1], labels[n:n + 1]
    raise RuntimeError(f"no test image among 500..999 with its centre in {low}..{high}")


def shift_sweep_vectors(seed: int, signed: bool) -> list[tuple[int, int, int]]:
    """One vector ``(x, m24, shift)`` per shift 24..62 (the exporter's range), m24 drawn from
    2^23..2^24-1 and x set so that y = x * m24 / 2^shift lands in 1..254 (``signed``: -127..127)
    where an int32 x can reach it, else x at the int32 limit (y small): every shift amount of
    requant stage 3 and 4 with a mid-range result, not only the trained scales (shift 30..40)."""
    rng = random.Random(seed)
    out = []
    for shift in range(24, 63):
        m24 = rng.randrange(1 << 23, 1 << 24)
        y = rng.uniform(-127, 127) if signed else rng.uniform(1, 254)
        x = max(-(1 << 31), min((1 << 31) - 1, round(y * (1 << shift) / m24)))
        out.append((x or 1, m24, shift))
    return out


# vectors the mutation review found missing (scripts/mutate.py): a tie after rounding p to 24
# bits at shift 51, a result just below 256 at the smallest shift, a negative x clamped by
# ReLU at a nonzero zero point (shown with identity_pass)
REVIEW_VECTORS = {"conv1": [(402653168, 1 << 23, 51), ((1 << 24) - 15, (1 << 24) - 1, 24)],
                  "fc3": [(16777201, (1 << 24) - 1, 24), (402653168, 1 << 23, 51)]}
RELU_ZP_VECTORS = [(-(1 << 30), 1 << 23, 24), (-1, (1 << 24) - 1, 24), (-300, (1 << 24) - 1, 24),
                   (100, (1 << 24) - 1, 24), (-100, (1 << 24) - 1, 24), (0, 1 << 23, 24)]


def pool_probe_network(seed: int, first: int) -> dict:
    """conv2 outputs a random constant code on each of its 16 channels (zero weights, unity
    scale, random zero point); fc1 output k passes pool2 channel (first + k) mod 16 at pixel
    7k mod 36 (bias = the zero point, so the code itself), fc2 and fc3 pass it on: fc3 output
    k is that channel's code, every bit of every channel of both pools' data path seen at
    :func:`directed_probes`' two values of ``first`` (0 and 6)."""
    gen = torch.Generator().manual_seed(seed)
    params = requant_probe_network("conv2", [(0, *UNITY)] * 10, 0)
    zp, values = _constant_codes(gen, 16, 64)
    _constant_layer(params, "conv2", values, zp)
    fc1 = params["fc1"]
    fc1.weight[:] = 0
    for k in range(10):
        fc1.weight[k, ((first + k) % 16) * POOL2_PIXELS + (7 * k) % POOL2_PIXELS] = 1
        fc1.bias_q[k] = zp
    return params


def pool1_probe_network(seed: int) -> dict:
    """conv1 outputs a random constant code on each of its 6 channels (zero weights, unity
    scale, random zero point); conv2 passes channel c to c through its centre tap (bias = the
    zero point: the code itself), fc1 reads pool2 channel c at pixel 7c mod 36: fc3 output c
    (c < 6) is conv1 channel c's code. Run with input idles (:data:`POOL1_PROBE_STALLS`), so
    conv1's pool sees column pairs at uneven distances."""
    gen = torch.Generator().manual_seed(200 + seed)
    params = requant_probe_network("conv1", [(0, *UNITY)] * 6, 0)
    zp, values = _constant_codes(gen, 6, 64)
    _constant_layer(params, "conv1", values, zp)
    params["conv2"].bias_q[:6] = zp
    fc1 = params["fc1"]
    fc1.weight[:] = 0
    for c in range(6):
        fc1.weight[c, c * POOL2_PIXELS + (7 * c) % POOL2_PIXELS] = 1
    return params


def pool1_probe_dirs() -> list[Path]:
    """The exported :func:`pool1_probe_network` networks (seeds 0..3)."""
    note = "pool1 probe (tb.bench.probes), not a trained model"
    return [export_once(f"requant_probes/pool1_{seed}", pool1_probe_network(seed), note) for seed in range(4)]


def directed_probes() -> list[tuple[Path, torch.Tensor, torch.Tensor]]:
    """``(export folder, images, labels)`` of networks (``sim_build/requant_probes/``) that
    every requant instance and MAC array sees in full, not sampled:
    :func:`rounding_tie_vectors` in conv1, conv2 and fc3 (fc3 also negated, zero point 255),
    :func:`mac_probe_network` for conv2 and fc3 (4 seeds each), with test image 500, and
    :func:`wide_sum_conv1_network` with :func:`wide_sum_image` (and its tie variant). Found
    missing by the mutation review: conv2's MAC with x - zp_in negative (``free_zp_in``),
    fc1's MAC in every lane (:func:`mac_probe_fc1_network`),
    every shift 24..62 with a mid-range result (:func:`shift_sweep_vectors`) and
    :data:`REVIEW_VECTORS` in conv1, conv2 and fc3, negative conv outputs at zero point 128
    (:data:`RELU_ZP_VECTORS`, ``identity_pass``), and every pool channel's bits
    (:func:`pool_probe_network`)."""
    ties = rounding_tie_vectors()
    note = "directed probe (tb.bench.probes), not a trained model"
    dirs = []
    for layer, per_net, zp, vecs in (("conv1", 6, 0, ties), ("conv2", 10, 0, ties),
                                     ("fc3", 10, 0, ties), ("fc3", 10, 255, [(-x, m, s) for x, m, s in ties])):
        for k in range(0, len(vecs), per_net):
            dirs.append(export_once(f"requant_probes/ties_{layer}_zp{zp}_{k}",
                                    requant_probe_network(layer, vecs[k:k + per_net], zp), note))
    for layer in ("conv2", "fc3"):
        for seed in range(4):
            dirs.append(export_once(f"requant_probes/mac_{layer}_{seed}", mac_probe_network(layer, seed), note))
    for seed in range(4):
        dirs.append(export_once(f"requant_probes/mac_conv2_zp_{seed}", mac_probe_network("conv2", 4 + seed, True), note))
    for seed, first in enumerate((0, 10, 0, 10)):
        dirs.append(export_once(f"requant_probes/mac_fc1_{seed}", mac_probe_fc1_network(seed, first), note))
    for layer, per_net, zp, signed in (("conv1", 6, 0, False), ("conv2", 10, 0, False), ("fc3", 10, 128, True)):
        vecs = shift_sweep_vectors(len(layer) + zp, signed) + REVIEW_VECTORS.get(layer, [])
        for k in range(0, len(vecs), per_net):
            dirs.append(export_once(f"requant_probes/shifts_{layer}_zp{zp}_{k}",
                                    requant_probe_network(layer, vecs[k:k + per_net], zp), note))
    for layer in ("conv1", "conv2"):
        dirs.append(export_once(f"requant_probes/relu_zp_{layer}",
                                requant_probe_network(layer, RELU_ZP_VECTORS, 128, identity_pass=True), note))
    for seed, first in enumerate((0, 6, 0, 6)):
        dirs.append(export_once(f"requant_probes/pool_{seed}", pool_probe_network(seed, first), note))
    image = load_images(train=False, offset=PROBE_IMAGE, count=1)
    wide = [(export_once("requant_probes/wide_conv1", wide_sum_conv1_network(), note), *wide_sum_image()),
            (export_once("requant_probes/wide_conv1_tie", wide_sum_conv1_network(WIDE_CONV1_TIE), note),
             *wide_sum_image(129)),
            (export_once("requant_probes/wide_conv1_up", wide_sum_conv1_network(WIDE_CONV1_TIE), note),
             *wide_sum_image(255, 130))]
    return [(d, *image) for d in dirs] + wide


def check_directed_expectations(runs: list) -> None:
    """The reference shows what the directed probes were built for (else the probe, not the
    RTL, is wrong): the MAC probes' outputs equal their targets' range (conv2 and fc1 1..200; fc3
    28..228 and output 9 the clamped -256, 0), the conv1 wide-sum probe gives 1 (its tie
    variant 0), the ReLU probes at zero point 128 show their codes (not v - 128 clamped)."""
    for r in runs:
        fc3 = r.expected[0][1:]
        if r.name.startswith("mac_fc3"):
            assert fc3[9] == 0 and all(28 <= v <= 228 for v in fc3[:9]), f"{r.name}: reference fc3 {fc3}"
        elif r.name.startswith(("mac_conv2", "mac_fc1")):
            assert all(1 <= v <= 200 for v in fc3), f"{r.name}: reference fc3 {fc3}"
        elif r.name.startswith("wide_conv1_tie"):
            assert fc3[0] == 0, f"{r.name}: reference fc3 {fc3}"
        elif r.name.startswith("wide_conv1_up"):
            assert fc3[0] == 1, f"{r.name}: reference fc3 {fc3}"
        elif r.name.startswith("wide_conv1"):
            assert fc3[0] == 1, f"{r.name}: reference fc3 {fc3}"
        elif r.name.startswith("relu_zp"):
            assert fc3[:6] == [128, 128, 128, 228, 128, 128], f"{r.name}: reference fc3 {fc3}"


def requant_probe_dirs() -> list[Path]:
    """The exported requant probe networks (:data:`PROBES`) in ``sim_build/requant_probes/``:
    vectors drawn (seed 5) from ``tb.bench.requant_vectors.directed_vectors`` whose x fits int32 and
    from :func:`near_tie_vectors`."""
    vecs = [(v.acc + v.bias, v.m24, v.shift) for v in directed_vectors(torch.Generator().manual_seed(5))
            if -(1 << 31) <= v.acc + v.bias < (1 << 31)]
    rng = random.Random(5)
    vecs += near_tie_vectors(len(vecs) // 2, rng)
    dirs = []
    # the int32 limits and 2^24 at the largest and smallest scales, in every instance
    m_lo, m_hi, lo, hi = 1 << 23, (1 << 24) - 1, -(1 << 31), (1 << 31) - 1
    extremes = [(lo, m_hi, 24), (lo, m_lo, 24), (hi, m_hi, 24), (hi, m_lo, 24), (lo, m_hi, 62),
                (hi, m_hi, 62), (-(1 << 24), m_hi, 24), (1 << 24, m_hi, 24), (1, m_lo, 24), (-1, m_lo, 24)]
    note = "requant probe (tb.bench.probes), not a trained model"
    for layer, per_net, _, zps in PROBES:
        for zp in zps:
            for k in range(0, len(extremes), per_net):
                dirs.append(export_once(f"requant_probes/{layer}_extreme_zp{zp}_{k}",
                                        requant_probe_network(layer, extremes[k:k + per_net], zp), note))
    # argmax: fc3 outputs set exactly (scale ~1: output = x for 0 <= x <= 255), close calls
    for k, values in enumerate(ARGMAX_PATTERNS):
        dirs.append(export_once(f"requant_probes/argmax_{k}",
                                requant_probe_network("fc3", [(v, m_hi, 24) for v in values], 0), note))
    for layer, per_net, nets, zps in PROBES:
        for k in range(nets):
            dirs.append(export_once(f"requant_probes/{layer}_{k}",
                                    requant_probe_network(layer, rng.sample(vecs, per_net), zps[k % len(zps)]), note))
    return dirs
