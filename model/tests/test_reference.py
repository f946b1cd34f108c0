"""Integer reference: its arithmetic against float32 and against PyTorch's quantized kernels."""
import pytest
import torch

from model.data import TEST_IMAGES, load_images
from model.net import FashionLeNet
from model.network import OUTPUTS
from model.quantize import integer_params, quantize, torch_layer_outputs
from model.reference import (argmax_first, bit_length, float32_to_m24_shift, forward, requantize,
                             round_significand)


def assert_layers_equal(ref: dict, theirs: dict, first_image: int = 0):
    """Every element of every layer equal; the message names image, layer, channel, position."""
    for layer in OUTPUTS + ("class",):
        a, b = ref[layer], theirs[layer]
        assert a.shape == b.shape, f"{layer}: shape {tuple(a.shape)} vs {tuple(b.shape)}"
        bad = (a != b).nonzero()
        if len(bad):
            idx = tuple(bad[0].tolist())
            where = dict(zip(("image", "channel", "row", "col"), idx))
            where["image"] += first_image
            pytest.fail(f"{len(bad)} elements differ; first: layer {layer} {where}: "
                        f"reference {a[idx].item()} torch {b[idx].item()} (diff {a[idx].item() - b[idx].item()})")


def test_bit_length(gen):
    a = torch.cat([torch.tensor([0, 1, 2, 3, 2**24 - 1, 2**24, 2**62]), torch.randint(0, 2**62, (5000,), generator=gen)])
    assert bit_length(a).tolist() == [int(v).bit_length() for v in a.tolist()]


def test_round_significand_is_int_to_float32(gen):
    x = torch.cat([torch.randint(-2**31, 2**31 - 1, (100000,), generator=gen),
                   torch.tensor([2**24 + 1, 2**24 + 3, -(2**24 + 1), 2**25 + 2, 2**25 + 6, 2**31 - 1, -2**31])])
    assert torch.equal(round_significand(x), x.to(torch.float32).to(torch.int64))


@pytest.mark.parametrize("relu", [False, True])
def test_requantize_equals_float32_arithmetic(gen, relu):
    """requantize == clamp(round_half_even(float32(acc + bias) * float32 scale) + zp)."""
    for _ in range(20):
        scale = float(torch.empty(1).uniform_(-12, -0.01, generator=gen).exp2())
        m24, shift = float32_to_m24_shift(scale)
        m = torch.tensor(m24 * 2.0 ** -shift, dtype=torch.float32)
        assert m.item() == torch.tensor(scale, dtype=torch.float32).item()
        zp = int(torch.randint(0, 256, (1,), generator=gen))
        span = int(400 / scale)
        acc = torch.randint(-span, span, (20000,), generator=gen)
        bias = torch.randint(-2**20, 2**20, (20000,), generator=gen)
        big = torch.randint(-2**30, 2**30, (2000,), generator=gen)  # |x| >= 2**24
        acc = torch.cat([acc, big])
        bias = torch.cat([bias, torch.zeros(2000, dtype=torch.int64)])
        y = torch.round((acc + bias).to(torch.float32) * m).to(torch.int64)  # torch.round: half to even
        expect = (y + zp).clamp(zp if relu else 0, 255)
        assert torch.equal(requantize(acc, bias, m24, shift, zp, relu), expect), f"scale {scale}"


def test_requantize_ties():
    # y ties: p / 2**shift = k + 0.5 rounds to even k
    m24, shift = 1 << 23, 24  # scale 0.5
    acc = torch.tensor([1, 3, 5, -1, -3, 2 * 255 + 1])
    assert requantize(acc, 0, m24, shift, 0, False).tolist() == [0, 2, 2, 0, 0, 255]
    assert requantize(acc, 0, m24, shift, 100, False).tolist() == [100, 102, 102, 100, 98, 255]
    assert requantize(acc, 0, m24, shift, 100, True).tolist() == [100, 102, 102, 100, 100, 255]


def test_float32_to_m24_shift_rejects_unrepresentable():
    for bad in (0.0, 1.0, 2.5, -0.1, 1e-30):
        with pytest.raises(ValueError):
            float32_to_m24_shift(bad)


def test_argmax_first_ties():
    x = torch.tensor([[1, 5, 5, 0], [7, 7, 7, 7], [0, 0, 0, 9]])
    assert argmax_first(x).tolist() == [1, 0, 3]
    assert torch.equal(argmax_first(x), x.argmax(dim=1))


@pytest.mark.parametrize("count", [1000])
def test_reference_equals_torch_on_real_images(qmodel, params, count):
    """Every layer, every element, of the first ``count`` test images (measured: exact)."""
    imgs, _ = load_images(train=False, offset=0, count=count)
    assert_layers_equal(forward(params, imgs), torch_layer_outputs(qmodel, imgs))


@pytest.mark.slow
def test_reference_equals_torch_on_all_test_images(qmodel, params):
    for off in range(0, TEST_IMAGES, 1000):
        imgs, _ = load_images(train=False, offset=off, count=1000)
        assert_layers_equal(forward(params, imgs), torch_layer_outputs(qmodel, imgs), off)


def test_reference_equals_torch_on_random_and_extreme_images(qmodel, params, gen):
    imgs = torch.cat([
        torch.zeros(1, 28, 28, dtype=torch.uint8),
        torch.full((1, 28, 28), 255, dtype=torch.uint8),
        (torch.arange(784).reshape(1, 28, 28) % 2 * 255).to(torch.uint8),  # checkerboard-like stripes
        torch.randint(0, 256, (64, 28, 28), generator=gen, dtype=torch.uint8),
    ])
    assert_layers_equal(forward(params, imgs), torch_layer_outputs(qmodel, imgs))


@pytest.mark.parametrize("net_seed", [1, 2])
def test_reference_equals_torch_for_other_networks(net_seed):
    """Random (untrained) networks give other scales, zero points and rounding cases."""
    torch.manual_seed(net_seed)
    net = FashionLeNet()
    calib, _ = load_images(train=True, offset=0, count=300)
    q = quantize(net, calib)
    imgs, _ = load_images(train=False, offset=1000 * net_seed, count=200)
    assert_layers_equal(forward(integer_params(q), imgs), torch_layer_outputs(q, imgs))
