"""The network description (model.network) against the PyTorch network and the integer reference."""
import torch

from model.net import NUM_PARAMETERS, FashionLeNet
from model.network import CSRS, LAYER_NAMES, LAYERS, MACS_PER_IMAGE, OUTPUTS, REGIONS, param_address
from model.reference import forward, random_layer_params


def test_layers_are_the_pytorch_layers():
    net = FashionLeNet()
    assert sum(p.numel() for p in net.parameters()) == NUM_PARAMETERS
    for layer in LAYERS:
        module = getattr(net, layer.name)
        assert tuple(module.weight.shape) == layer.weight_shape, layer.name
        assert module.bias.shape == (layer.out_channels,), layer.name
        assert getattr(module, "padding", (0, 0)) == (layer.padding, layer.padding), layer.name
    assert sum(lay.region_size("weight") + lay.region_size("bias") for lay in LAYERS) == NUM_PARAMETERS


def test_shapes_are_the_reference_outputs():
    params = {lay.name: random_layer_params(lay.name, lay.weight_shape, lay.relu, lay.padding) for lay in LAYERS}
    out = forward(params, torch.zeros(2, 28, 28, dtype=torch.uint8))
    for lay, pool in zip(LAYERS[:2], ("pool1", "pool2")):
        assert tuple(out[lay.name].shape[1:]) == (lay.out_channels, lay.out_size, lay.out_size)
        assert tuple(out[pool].shape[1:]) == (lay.out_channels, lay.pooled_size, lay.pooled_size)
    conv2 = LAYERS[1]
    assert LAYERS[2].in_channels == conv2.out_channels * conv2.pooled_size ** 2
    for lay in LAYERS[2:]:
        assert tuple(out[lay.name].shape[1:]) == (lay.out_channels,)
    assert set(OUTPUTS) <= set(out)
    assert MACS_PER_IMAGE == 6 * 9 * 28 * 28 + 16 * 6 * 9 * 12 * 12 + 576 * 120 + 120 * 84 + 84 * 10


def test_address_map_has_no_overlaps():
    spans = [(c.offset, c.offset + 4, c.name) for c in CSRS]
    for name in LAYER_NAMES:
        for lay_region in REGIONS:
            size = next(lay for lay in LAYERS if lay.name == name).region_size(lay_region.name)
            first = param_address(name, lay_region.name, 0)
            spans.append((first, first + 4 * size, f"{name}.{lay_region.name}"))
    spans.sort()
    for (_, end, a), (start, _, b) in zip(spans, spans[1:]):
        assert end <= start, f"{a} overlaps {b}"
    assert spans[-1][1] <= 1 << 24  # the 24-bit AXI4-Lite address space
    assert [r.code for r in REGIONS] == list(range(len(REGIONS)))

