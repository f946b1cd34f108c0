"""Parameter files (model.params), manifest, checkpoints and the accuracy goals of the committed model."""
import json
import shutil

import pytest
import torch

from model.data import load_images
from model.net import NUM_PARAMETERS, CheckpointError, FashionLeNet, load_checkpoint
from model.network import LAYER_NAMES
from model.params import ExportError, ParamsError, load_params, write_params
from model.quantize import integer_params
from model.reference import forward
from model.settings import ARTIFACTS
from model.settings import EXPORT_DIR as EXPORT

FLOAT_ACCURACY_GOAL = 0.910
INT8_ACCURACY_GOAL = 0.907


def test_parameter_count():
    assert sum(p.numel() for p in FashionLeNet().parameters()) == NUM_PARAMETERS


def test_committed_accuracies(report):
    """Goals of the committed model, measured on all 10,000 test images by `make model`."""
    assert report["float_test_accuracy"] >= FLOAT_ACCURACY_GOAL, report
    assert report["int8_test_accuracy"] >= INT8_ACCURACY_GOAL, report


def test_float_accuracy_recomputed():
    """The committed checkpoint really has the reported float accuracy."""
    from model.train import accuracy
    model = load_checkpoint(ARTIFACTS / "fashion_lenet.pt")
    x, y = load_images(train=False)
    assert accuracy(model, x, y) >= FLOAT_ACCURACY_GOAL


def test_integer_reference_accuracy(params, report):
    """The integer reference classifies all 10,000 test images as PyTorch's int8 model does."""
    correct = 0
    for off in range(0, 10_000, 2500):
        x, y = load_images(train=False, offset=off, count=2500)
        correct += (forward(params, x)["class"] == y).sum().item()
    assert correct == round(report["int8_test_accuracy"] * 10_000)  # the same images, exactly
    assert correct / 10_000 >= INT8_ACCURACY_GOAL


def test_export_matches_quantized_model(qmodel, params):
    fresh = integer_params(qmodel)
    for name in LAYER_NAMES:
        a, b = params[name], fresh[name]
        for field in ("weight", "bias_q", "m24", "shift"):
            assert torch.equal(getattr(a, field), getattr(b, field)), f"{name}.{field}"
        assert (a.zp_in, a.zp_out, a.relu, a.padding) == (b.zp_in, b.zp_out, b.relu, b.padding), name


def test_manifest_describes_files():
    manifest = json.loads((EXPORT / "manifest.json").read_text())
    assert set(manifest["layers"]) == set(LAYER_NAMES)
    assert manifest["layers"]["fc1"]["weight_shape"] == [120, 576]
    assert manifest["input"]["zero_point"] == 0
    for fname in manifest["files"]:
        assert (EXPORT / fname).is_file(), fname


def test_sha256_mismatch_is_rejected(tmp_path):
    shutil.copytree(EXPORT, tmp_path / "e")
    path = tmp_path / "e" / "fc2_bias.mem"
    lines = path.read_text().splitlines()
    lines[0] = f"{(int(lines[0], 16) ^ 1):08x}"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ParamsError, match="sha256"):
        load_params(tmp_path / "e")


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_damaged_file_is_rejected(tmp_path, damage):
    shutil.copytree(EXPORT, tmp_path / "e")
    path = tmp_path / "e" / "conv2_weight.mem"
    if damage == "missing":
        path.unlink()
    else:
        path.write_text("\n".join(path.read_text().splitlines()[:-3]) + "\n")
    with pytest.raises(ParamsError):
        load_params(tmp_path / "e", verify=False)


def test_write_params_round_trip(tmp_path, params):
    write_params(params, tmp_path)
    again = load_params(tmp_path)
    for name in LAYER_NAMES:
        assert torch.equal(again[name].weight, params[name].weight)


def test_checkpoint_of_another_network_is_rejected(tmp_path):
    other = torch.nn.Sequential(torch.nn.Linear(784, 10))
    torch.save(other.state_dict(), tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a FashionLeNet checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    state = FashionLeNet().state_dict()
    state["fc1.weight"] = torch.zeros(100, 576)
    torch.save(state, tmp_path / "shape.pt")
    with pytest.raises(CheckpointError, match="fc1.weight"):
        load_checkpoint(tmp_path / "shape.pt")


def test_quantize_cli_on_another_checkpoint(tmp_path):
    """The command-line entry point takes any FashionLeNet state_dict."""
    from model.quantize import main
    torch.manual_seed(5)
    torch.save(FashionLeNet().state_dict(), tmp_path / "rand.pt")
    assert main(["--checkpoint", str(tmp_path / "rand.pt"), "--out", str(tmp_path / "out"), "--calib", "200"]) == 0
    p = load_params(tmp_path / "out")
    assert p["fc3"].weight.shape == (10, 84)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755, "the temporary folder's mode leaked"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["out", "rand.pt"], "temporary folder left behind"
    torch.save({"x": torch.zeros(3)}, tmp_path / "bad.pt")
    assert main(["--checkpoint", str(tmp_path / "bad.pt"), "--out", str(tmp_path / "out2")]) == 2
    assert not (tmp_path / "out2").exists()


@pytest.mark.parametrize("layer,field,value,words", [
    ("conv1", "weight", 128, "weight[0, 0, 1, 1] = 128 outside -128..127"),
    ("fc2", "bias_q", 1 << 31, "bias_q[3] = 2147483648 outside"),
    ("conv2", "m24", (1 << 23) - 1, "m24[3] = 8388607 outside 8388608..16777215"),
    ("fc3", "shift", 63, "shift[3] = 63 outside 24..62"),
    ("fc1", "zp_out", 256, "zp_out = 256 outside 0..255"),
    ("fc1", "shape", None, "weight shape [120, 575]"),
])
def test_export_rejects_unrepresentable(params, tmp_path, layer, field, value, words):
    """write_params refuses what the hardware cannot hold, names it, and writes nothing."""
    import copy
    bad = copy.deepcopy(params)
    p = bad[layer]
    if field == "weight":
        p.weight.view(-1)[4] = value
    elif field == "zp_out":
        p.zp_out = value
    elif field == "shape":
        p.weight = p.weight[:, :575]
    else:
        getattr(p, field)[3] = value
    out = tmp_path / "export"
    with pytest.raises(ExportError) as info:
        write_params(bad, out)
    assert str(info.value).startswith(f"{layer}: ") and words in str(info.value), str(info.value)
    assert not out.exists(), "a partial export was written"


def test_export_accepts_the_limits(params, tmp_path):
    """The extreme values themselves are representable (they are what tb/test_regress.py's
    extreme parameter set uses)."""
    import copy
    edge = copy.deepcopy(params)
    p = edge["fc3"]
    p.weight[0, 0], p.weight[0, 1] = -128, 127
    p.bias_q[0], p.bias_q[1] = -(1 << 31), (1 << 31) - 1
    p.m24[0], p.shift[0], p.m24[1], p.shift[1] = 1 << 23, 62, (1 << 24) - 1, 24
    write_params(edge, tmp_path / "export")
    back = load_params(tmp_path / "export")["fc3"]
    for field in ("weight", "bias_q", "m24", "shift"):
        assert torch.equal(getattr(back, field), getattr(p, field)), field
