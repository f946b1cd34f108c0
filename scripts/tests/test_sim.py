"""`make sim` (scripts/sim.py) refuses bad settings and bad parameter folders with one line
(``error: ...`` on stderr naming the setting or file) and exit status 2, before anything is
built and without writing anything. The parameter folders are damaged copies of the committed
export."""
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys

import pytest

from tb.runner import DEFAULT_PARAMS, REPO


def run_sim_script(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os
    full_env = {k: v for k, v in os.environ.items() if k not in ("IMAGES", "OFFSET", "PARAMS")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, str(REPO / "scripts" / "sim.py"), *args], env=full_env,
                          capture_output=True, text=True, timeout=120, cwd=REPO, check=False)


@pytest.fixture
def sim(monkeypatch):
    """scripts/sim.py imported in-process; building or simulating fails the test."""
    for name in ("IMAGES", "OFFSET", "PARAMS", "WAVES", "LANES", "CONV2_PAR"):
        monkeypatch.delenv(name, raising=False)
    spec = importlib.util.spec_from_file_location("sim_script", REPO / "scripts" / "sim.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    import tb.runner

    def no_build(*args, **kwargs):
        raise AssertionError("the RTL build started despite bad settings")
    monkeypatch.setattr(tb.runner, "run_sim", no_build)
    return mod


def damaged(tmp_path, damage: str):
    """A copy of the committed export with one kind of damage; returns (folder, expected message)."""
    e = tmp_path / "params"
    shutil.copytree(DEFAULT_PARAMS, e)

    def rehash(fname):
        man = json.loads((e / "manifest.json").read_text())
        man["files"][fname]["sha256"] = hashlib.sha256((e / fname).read_bytes()).hexdigest()
        (e / "manifest.json").write_text(json.dumps(man))

    if damage == "missing file":
        (e / "fc1_weight.mem").unlink()
        return e, f"{e / 'fc1_weight.mem'}: parameter file missing"
    if damage == "truncated":
        path = e / "conv1_weight.mem"
        path.write_text("".join(path.read_text().splitlines(keepends=True)[:50]))
        return e, f"{path}: 50 values, expected 54 (manifest conv1 weight_shape [6, 1, 3, 3])"
    if damage == "sha256":
        path = e / "fc3_bias.mem"
        lines = path.read_text().splitlines()
        lines[4] = f"{int(lines[4], 16) ^ 0x10:08x}"
        path.write_text("\n".join(lines) + "\n")
        return e, f"{path}: sha256 "
    if damage == "wrong shape":
        path = e / "fc3_weight.mem"
        path.write_text("".join(path.read_text().splitlines(keepends=True)[:10 * 80]))
        rehash(path.name)
        man = json.loads((e / "manifest.json").read_text())
        man["layers"]["fc3"]["weight_shape"] = [10, 80]
        (e / "manifest.json").write_text(json.dumps(man))
        return e, f"{e / 'manifest.json'}: fc3: weight shape [10, 80], the hardware has [10, 84]"
    if damage == "manifest":
        (e / "manifest.json").write_text('{"layers": ')
        return e, f"{e / 'manifest.json'}: not valid JSON"
    if damage == "quantized model":
        path = e / "quantized_state_dict.pt"
        path.write_bytes(path.read_bytes()[:20_000])
        return e, f"{path}: not a PyTorch checkpoint: truncated or corrupted"
    raise ValueError(damage)


def check_refused(sim, capsys, argv, message):
    rc = sim.main(argv)
    out, err = capsys.readouterr()
    assert rc == 2, (out, err)
    assert err.startswith(f"error: {message}"), err
    assert err.count("\n") == 1, f"not one line: {err!r}"
    assert out == "", f"printed before refusing: {out!r}"


@pytest.mark.parametrize("argv,env,message", [
    (["--images", "0"], {}, "OFFSET=0 IMAGES=0: at least 1 image needed"),
    (["--offset", "9990", "--images", "20"], {},
     "OFFSET=9990 IMAGES=20: images 9990..10009 are outside the test set (0..9999)\n"),
    (["--offset", "-1"], {}, "OFFSET=-1 IMAGES=100: images -1..98 are outside the test set"),
    ([], {"OFFSET": "9950"}, "OFFSET=9950 IMAGES=100: images 9950..10049 are outside the test set"),
    ([], {"IMAGES": "ten"}, "IMAGES='ten' is not an integer\n"),
    ([], {"OFFSET": "1.5"}, "OFFSET='1.5' is not an integer\n"),
    (["--images", "x"], {}, "sim: argument --images: invalid int value: 'x'\n"),
    (["--lanes", "0", "--images", "1"], {}, "LANES=0: at least 1 MAC lane\n"),
    (["--conv2-par", "4", "--images", "1"], {}, "CONV2_PAR=4: conv2 has 6 input channels, 1, 2, 3 or 6 per cycle\n"),
    ([], {"CONV2_PAR": "three"}, "CONV2_PAR='three' is not an integer\n"),
    (["--images", "1"], {"WAVES": "2"}, "WAVES=2: 0 or 1\n"),
    (["--waves", "2"], {}, "sim: argument --waves: invalid choice: 2 (choose from 0, 1)\n"),
    (["--params", " ", "--images", "1"], {}, "PARAMS is empty"),
])
def test_bad_settings(sim, capsys, monkeypatch, argv, env, message):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    try:
        check_refused(sim, capsys, argv, message)
    except SystemExit as exc:  # argparse's own errors (one line through model.settings.ArgumentParser)
        assert exc.code == 2
        out, err = capsys.readouterr()
        assert err == f"error: {message}" and out == "", (out, err)


@pytest.mark.parametrize("damage", ["missing file", "truncated", "sha256", "wrong shape", "manifest",
                                    "quantized model"])
def test_bad_parameter_folder(sim, capsys, tmp_path, damage):
    """PARAMS=<a damaged export>: refused with the file and the problem before the build
    (Verilator's $readmemh of a truncated file would only warn)."""
    folder, message = damaged(tmp_path, damage)
    check_refused(sim, capsys, ["--params", str(folder), "--images", "1"], message)


def test_missing_parameter_folder(sim, capsys, tmp_path):
    check_refused(sim, capsys, ["--params", str(tmp_path / "nowhere"), "--images", "1"],
                  f"{tmp_path / 'nowhere'}: no such parameter folder")


def test_exit_status_images_out_of_range():
    """The real command line, as `make sim IMAGES=20 OFFSET=9990` runs it."""
    res = run_sim_script("--images", "20", "--offset", "9990")
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr == "error: OFFSET=9990 IMAGES=20: images 9990..10009 are outside the test set (0..9999)\n"
    assert res.stdout == ""


def test_exit_status_truncated_parameter_file(tmp_path):
    """The real command line with PARAMS=<folder with a truncated .mem>: exit 2, one line, no
    build (the build would take a minute; this returns in seconds)."""
    folder, message = damaged(tmp_path, "truncated")
    res = run_sim_script("--images", "1", env={"PARAMS": str(folder)})
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr == f"error: {message}\n"
    assert res.stdout == "" and "Traceback" not in res.stderr
