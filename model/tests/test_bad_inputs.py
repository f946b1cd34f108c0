"""Bad files and arguments on the model side: every problem is one line naming the
file or argument, the command-line tools exit non-zero without a traceback, and nothing is
written. All damage is done to copies (tmp_path) of the committed export and checkpoint."""
import hashlib
import json
import shutil
import subprocess
import sys

import pytest
import torch

from model.net import CheckpointError, FashionLeNet, load_checkpoint
from model.params import ParamsError, load_params
from model.quantize import check_export_dir, load_quantized
from model.quantize import main as quantize_main
from model.settings import ARTIFACTS
from model.settings import EXPORT_DIR as EXPORT

REPO = ARTIFACTS.parent.parent


def copy_export(tmp_path):
    dst = tmp_path / "export"
    shutil.copytree(EXPORT, dst)
    return dst


def rehash(export_dir, fname):
    """Update the manifest's sha256 of ``fname`` (damage that the checksum alone would not catch)."""
    man = json.loads((export_dir / "manifest.json").read_text())
    man["files"][fname]["sha256"] = hashlib.sha256((export_dir / fname).read_bytes()).hexdigest()
    (export_dir / "manifest.json").write_text(json.dumps(man, indent=1))


def edit_manifest(export_dir, edit):
    man = json.loads((export_dir / "manifest.json").read_text())
    edit(man)
    (export_dir / "manifest.json").write_text(json.dumps(man, indent=1))


def params_error(export_dir) -> str:
    with pytest.raises(ParamsError) as info:
        load_params(export_dir)
    msg = str(info.value)
    assert "\n" not in msg, msg
    return msg


# ------------------------------------------------------------------ load_params: the export folder

def test_missing_folder(tmp_path):
    msg = params_error(tmp_path / "nowhere")
    assert msg.startswith(f"{tmp_path / 'nowhere'}: no such parameter folder"), msg


def test_missing_manifest(tmp_path):
    e = copy_export(tmp_path)
    (e / "manifest.json").unlink()
    assert params_error(e).startswith(f"{e / 'manifest.json'} is missing")


@pytest.mark.parametrize("text,words", [("{ not json", "not valid JSON"),
                                        ('{"format": "x"}', "not an export manifest"),
                                        ("[1, 2]", "not an export manifest")])
def test_manifest_not_an_export_manifest(tmp_path, text, words):
    e = copy_export(tmp_path)
    (e / "manifest.json").write_text(text)
    msg = params_error(e)
    assert msg.startswith(f"{e / 'manifest.json'}: {words}"), msg


def test_manifest_without_a_layer(tmp_path):
    e = copy_export(tmp_path)
    edit_manifest(e, lambda m: m["layers"].pop("fc2"))
    assert params_error(e) == f"{e / 'manifest.json'}: no entry for layer fc2"


def test_manifest_without_a_checksum(tmp_path):
    e = copy_export(tmp_path)
    edit_manifest(e, lambda m: m["files"].pop("fc1_zp.mem"))
    assert params_error(e) == f"{e / 'manifest.json'}: no sha256 for fc1_zp.mem"


def test_missing_parameter_file(tmp_path):
    e = copy_export(tmp_path)
    (e / "conv2_weight.mem").unlink()
    assert params_error(e) == f"{e / 'conv2_weight.mem'}: parameter file missing"


def test_truncated_parameter_file(tmp_path):
    """The issue's example: a truncated weight file names the file, its count and the manifest's."""
    e = copy_export(tmp_path)
    path = e / "conv1_weight.mem"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:50]))
    assert params_error(e) == f"{path}: 50 values, expected 54 (manifest conv1 weight_shape [6, 1, 3, 3])"


def test_truncated_bias_file(tmp_path):
    e = copy_export(tmp_path)
    path = e / "fc3_bias.mem"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:9]))
    assert params_error(e) == f"{path}: 9 values, expected 10 (manifest fc3: 10 output channels)"


def test_sha256_mismatch(tmp_path):
    e = copy_export(tmp_path)
    path = e / "fc2_bias.mem"
    lines = path.read_text().splitlines()
    lines[0] = f"{(int(lines[0], 16) ^ 1):08x}"
    path.write_text("\n".join(lines) + "\n")
    msg = params_error(e)
    assert msg.startswith(f"{path}: sha256 ") and msg.endswith("does not match the manifest "
                                                               f"({json.loads((e / 'manifest.json').read_text())['files']['fc2_bias.mem']['sha256'][:12]}...)"), msg


def test_not_hex(tmp_path):
    e = copy_export(tmp_path)
    path = e / "fc1_requant.mem"
    lines = path.read_text().splitlines()
    lines[2] = "zz"
    path.write_text("\n".join(lines) + "\n")
    rehash(e, path.name)
    assert params_error(e) == f"{path}: value 3 'zz' is not hex"


def test_value_too_wide(tmp_path):
    e = copy_export(tmp_path)
    path = e / "conv2_weight.mem"
    lines = path.read_text().splitlines()
    lines[0] = "1ff"
    path.write_text("\n".join(lines) + "\n")
    rehash(e, path.name)
    assert params_error(e) == f"{path}: value 1 '1ff' is wider than 8 bits"


def test_wrong_weight_shape(tmp_path):
    """A consistent export of the wrong shape (manifest, file and checksum agree): refused
    against FashionLeNet's shape, naming the manifest."""
    e = copy_export(tmp_path)
    path = e / "conv1_weight.mem"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:36]))
    rehash(e, path.name)
    edit_manifest(e, lambda m: m["layers"]["conv1"].update(weight_shape=[6, 1, 3, 2]))
    assert params_error(e) == (f"{e / 'manifest.json'}: conv1: weight shape [6, 1, 3, 2], "
                               "the hardware has [6, 1, 3, 3]")


def test_shift_the_hardware_cannot_hold(tmp_path):
    e = copy_export(tmp_path)
    path = e / "fc3_requant.mem"
    lines = path.read_text().splitlines()
    lines[0] = f"{(63 << 24) | (int(lines[0], 16) & 0xFFFFFF):08x}"
    path.write_text("\n".join(lines) + "\n")
    rehash(e, path.name)
    msg = params_error(e)
    assert msg.startswith(f"{path}: fc3: shift[0] = 63 outside 24..62"), msg


def test_relu_other_than_the_hardware(tmp_path):
    e = copy_export(tmp_path)
    edit_manifest(e, lambda m: m["layers"]["fc3"].update(relu=True))
    assert params_error(e) == f"{e / 'manifest.json'}: fc3 relu True, the hardware has False"


def test_committed_export_loads():
    params = check_export_dir(EXPORT)
    assert params["fc1"].weight.shape == (120, 576)


# ------------------------------------------------------------------ checkpoints

@pytest.fixture(scope="module")
def bad_checkpoints(tmp_path_factory):
    """Files that are not FashionLeNet state_dicts, with the words their error must contain."""
    d = tmp_path_factory.mktemp("ckpt")
    torch.save(torch.nn.Sequential(torch.nn.Linear(784, 10)).state_dict(), d / "sequential.pt")
    from torchvision.models import squeezenet1_1
    torch.save(squeezenet1_1(num_classes=10).state_dict(), d / "torchvision.pt")
    torch.save(FashionLeNet(), d / "pickled_module.pt")
    good = (ARTIFACTS / "fashion_lenet.pt").read_bytes()
    (d / "truncated.pt").write_bytes(good[:len(good) // 2])
    (d / "text.pt").write_text("not a checkpoint\n")
    return {
        d / "sequential.pt": "is not a FashionLeNet checkpoint: 10 missing (conv1.weight, conv1.bias, conv2.weight, ...); 2 unexpected (0.weight, 0.bias)",
        d / "torchvision.pt": "is not a FashionLeNet checkpoint: ",
        d / "pickled_module.pt": "refused by weights_only=True: Unsupported global: GLOBAL model.net.FashionLeNet",
        d / "truncated.pt": "not a PyTorch checkpoint: truncated or corrupted",
        d / "text.pt": "not a PyTorch checkpoint: not a file written by torch.save",
    }


def test_checkpoints_of_other_networks(bad_checkpoints):
    for path, words in bad_checkpoints.items():
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(path)
        msg = str(info.value)
        assert msg.startswith(str(path)) and words in msg and "\n" not in msg, msg
        assert len(msg) < 400, msg


def test_checkpoint_with_a_wrong_shape(tmp_path):
    state = FashionLeNet().state_dict()
    state["fc1.weight"] = torch.zeros(100, 576)
    torch.save(state, tmp_path / "shape.pt")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path / "shape.pt")
    assert str(info.value) == (f"{tmp_path / 'shape.pt'} is not a FashionLeNet checkpoint: "
                               "fc1.weight: shape (100, 576), FashionLeNet needs (120, 576)")


def test_every_torch_load_uses_weights_only():
    """grep: every torch.load in the repository's Python passes weights_only=True."""
    calls = []
    for path in list((REPO / "model").rglob("*.py")) + list((REPO / "scripts").rglob("*.py")) + \
            list((REPO / "tb").rglob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if "torch.load(" in line and not line.lstrip().startswith(("#", '"', "`")) and "``" not in line:
                calls.append((path, n, line))
    assert calls, "no torch.load found: the grep is broken"
    for path, n, line in calls:
        assert "weights_only=True" in line, f"{path}:{n}: {line.strip()}"


def test_quantized_model_of_another_network(tmp_path, bad_checkpoints):
    """PARAMS/quantized_state_dict.pt (PyTorch's side of the comparison) is checked too."""
    e = copy_export(tmp_path)
    seq = next(p for p in bad_checkpoints if p.name == "sequential.pt")
    shutil.copy(seq, e / "quantized_state_dict.pt")
    with pytest.raises(CheckpointError) as info:
        check_export_dir(e)
    msg = str(info.value)
    assert msg.startswith(f"{e / 'quantized_state_dict.pt'} is not a quantized FashionLeNet state_dict"), msg
    assert "\n" not in msg
    trunc = e / "quantized_state_dict.pt"
    trunc.write_bytes((EXPORT / "quantized_state_dict.pt").read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        load_quantized(trunc)


# ------------------------------------------------------------------ python -m model.quantize

def run_quantize(capsys, *args):
    rc = quantize_main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def test_quantize_rejects_other_checkpoints(tmp_path, capsys, bad_checkpoints):
    for path, words in bad_checkpoints.items():
        out_dir = tmp_path / f"out_{path.stem}"
        rc, out, err = run_quantize(capsys, "--checkpoint", str(path), "--out", str(out_dir))
        assert rc == 2, (path, out, err)
        assert err.startswith(f"error: {path}") and words in err and err.count("\n") == 1, err
        assert not out_dir.exists(), "an export folder was written for a bad checkpoint"
        assert not list(tmp_path.glob(".out_*")), "a temporary folder was left behind"


@pytest.mark.parametrize("args,words", [
    (["--checkpoint", "{tmp}/missing.pt"], "error: checkpoint {tmp}/missing.pt does not exist"),
    (["--calib", "0"], "error: --calib 0: calibration needs 1..60000 training images"),
    (["--calib", "60001"], "error: --calib 60001: calibration needs 1..60000 training images"),
    (["--calib", "many"], "error: model.quantize: argument --calib: invalid int value: 'many'"),
    (["--out", "{tmp}/a_file"], "error: --out {tmp}/a_file: exists and is not a folder"),
    (["--out", "{tmp}/no/such/parent"], "error: --out {tmp}/no/such/parent: parent folder {tmp}/no/such does not exist"),
])
def test_quantize_bad_arguments(tmp_path, capsys, args, words):
    (tmp_path / "a_file").write_text("x")
    args = [a.format(tmp=tmp_path) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "out")]
    if "--checkpoint" not in args:
        args += ["--checkpoint", str(ARTIFACTS / "fashion_lenet.pt")]
    try:
        rc, out, err = run_quantize(capsys, *args)
    except SystemExit as exc:  # argparse
        rc, (out, err) = exc.code, capsys.readouterr()
    assert rc == 2
    assert err == words.format(tmp=tmp_path) + "\n", err
    assert not out
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_quantize_failure_leaves_the_export_untouched(tmp_path, capsys, monkeypatch):
    """A failure after quantization (here: the exporter refusing the parameters, as it does for
    values the hardware cannot hold) leaves an existing export folder exactly as it was and no
    temporary folder behind."""
    import model.quantize as mq
    from model.params import ExportError
    out_dir = copy_export(tmp_path)
    before = {p.name: p.read_bytes() for p in out_dir.iterdir()}

    def refuse(params, out, extra=None):
        (out / "conv1_weight.mem").write_text("partial\n")  # as if it had begun writing
        raise ExportError("fc2: bias_q[3] = 2147483648 outside -2147483648..2147483647", "bias_q")

    monkeypatch.setattr(mq, "write_params", refuse)
    torch.manual_seed(5)
    torch.save(FashionLeNet().state_dict(), tmp_path / "rand.pt")
    rc, _, err = run_quantize(capsys, "--checkpoint", str(tmp_path / "rand.pt"), "--out", str(out_dir),
                              "--calib", "200")
    assert rc == 2
    assert err == "error: fc2: bias_q[3] = 2147483648 outside -2147483648..2147483647\n"
    assert {p.name: p.read_bytes() for p in out_dir.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "rand.pt"]


def test_quantize_cli_exit_status(tmp_path, bad_checkpoints):
    """The real command line: exit status 2, one line on stderr, no traceback, nothing written."""
    ckpt = next(p for p in bad_checkpoints if p.name == "torchvision.pt")
    res = subprocess.run([sys.executable, "-m", "model.quantize", "--checkpoint", str(ckpt),
                          "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=REPO,
                         timeout=300, check=False)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith(f"error: {ckpt} is not a FashionLeNet checkpoint: "), res.stderr
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, res.stderr
    assert not res.stdout
    assert not (tmp_path / "out").exists()
