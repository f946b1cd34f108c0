"""Bad settings of the top's benches: PARAMS and the image ranges (IMAGES/OFFSET and the others
the cocotb tests read) are checked by ``tb.bench.top.run_top`` in the pytest process before
anything is built, each problem one line naming the setting or file. The RTL build is replaced
by a function that fails the test (the ``no_build`` fixture), so these tests prove the order
and need no Verilator."""
import shutil

import pytest

from model.network import Folding
from model.params import ParamsError
from model.settings import SettingError
from tb.bench.top import CSR_MODULE, IMAGES_MODULE, PARAMS_MODULE, run_top
from tb.runner import DEFAULT_PARAMS

LANES8 = Folding(lanes=8, conv2_par=3)


def test_top_bad_params_before_build(no_build, monkeypatch, tmp_path, truncated_export):
    folder, message = truncated_export
    monkeypatch.setenv("PARAMS", str(folder))
    with pytest.raises(ParamsError) as info:
        run_top(IMAGES_MODULE, LANES8)
    assert str(info.value) == message
    assert not (tmp_path / "sim_build").exists()


def test_top_sha256_before_build(no_build, monkeypatch, tmp_path):
    e = tmp_path / "params"
    shutil.copytree(DEFAULT_PARAMS, e)
    path = e / "conv2_zp.mem"
    path.write_text(f"{int(path.read_text(), 16) ^ 0x100:04x}\n")
    monkeypatch.setenv("PARAMS", str(e))
    with pytest.raises(ParamsError, match=f"^{path}: sha256 .* does not match the manifest"):
        run_top(IMAGES_MODULE, LANES8, testcase="test_images$")


@pytest.mark.parametrize("env,module,testcase,message", [
    ({"OFFSET": "9995"}, IMAGES_MODULE, "test_images$",
     "OFFSET=9995 IMAGES=10: images 9995..10004 are outside the test set (0..9999)"),
    ({"IMAGES": "0"}, IMAGES_MODULE, "test_images$", "OFFSET=0 IMAGES=0: at least 1 image needed"),
    ({"OFFSET": "-3", "IMAGES": "2"}, IMAGES_MODULE, "test_images$",
     "OFFSET=-3 IMAGES=2: images -3..-2 are outside the test set (0..9999)"),
    ({"IMAGES": "1e3"}, CSR_MODULE, None, "IMAGES='1e3' is not an integer"),
    ({"STAGE_OFFSET": "9999", "STAGE_IMAGES": "2"}, IMAGES_MODULE, None,
     "STAGE_OFFSET=9999 STAGE_IMAGES=2: images 9999..10000 are outside the test set (0..9999)"),
    ({"OFFSET": "9950", "IMAGES": "5"}, PARAMS_MODULE, None,
     ("OFFSET=9950 PARAM_IMAGES=3 (test_axil_params reads PARAM_IMAGES images from OFFSET+100): images "
      "10050..10052 are outside the test set (0..9999)")),
    ({"STRESS_OFFSET": "9998", "STRESS_IMAGES": "4"}, IMAGES_MODULE, "test_stress_images$",
     "STRESS_OFFSET=9998 STRESS_IMAGES=4: images 9998..10001 are outside the test set (0..9999)"),
    ({"OFFSET": "9700", "RELOAD_IMAGES": "3"}, PARAMS_MODULE, "test_param_reload$",
     ("OFFSET=9700 RELOAD_IMAGES=3 (test_param_reload reads RELOAD_IMAGES images from OFFSET+300): images "
      "10000..10002 are outside the test set (0..9999)")),
], ids=["offset", "zero-images", "negative-offset", "not-an-integer", "stages", "axil-params", "stress",
        "param-reload"])
def test_top_image_ranges_before_build(no_build, monkeypatch, env, module, testcase, message):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(SettingError) as info:
        run_top(module, LANES8, testcase=testcase)
    assert str(info.value) == message


@pytest.mark.parametrize("module,env", [
    (IMAGES_MODULE, {"STAGE_OFFSET": "9999", "STAGE_IMAGES": "2"}),
    (CSR_MODULE, {"OFFSET": "9950", "IMAGES": "5"}),
], ids=["stages-not-run", "axil-params-not-run"])
def test_top_image_ranges_of_other_tests_ignored(no_build, monkeypatch, module, env):
    """A range only a test that does not run reads (test_stages filtered out, test_axil_params
    in another module) is not refused: the run reaches the build (here the stub)."""
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(AssertionError, match="a build started"):
        run_top(module, LANES8, testcase="test_images$" if module == IMAGES_MODULE else None)


def test_top_image_ranges_accepted(no_build, monkeypatch):
    """The edges themselves pass the check (and reach the build, here the stub)."""
    monkeypatch.setenv("OFFSET", "9990")
    monkeypatch.setenv("IMAGES", "10")
    with pytest.raises(AssertionError, match="a build started"):
        run_top(IMAGES_MODULE, LANES8, testcase="test_images$")
