"""Bad settings of the regression bench: PARAMS, IMAGES/OFFSET (and the other image
ranges) of tb/test_regress.py are checked in the pytest process before anything is built, each
problem one line naming the setting or file (the top's: tb/test_fashion_lenet_accel_settings.py).
The RTL build is replaced by a function that fails the test, so these tests prove the order and
need no Verilator."""
import pytest

from model.params import ParamsError

# ------------------------------------------------------------------ tb/test_regress.py

def failed_message(call) -> str:
    """The message of a ``pytest.fail(..., pytrace=False)`` raised by ``call``: one line, no traceback."""
    with pytest.raises(pytest.fail.Exception) as info:
        call()
    assert info.value.pytrace is False
    msg = str(info.value)
    assert "\n" not in msg, msg
    return msg


@pytest.mark.parametrize("env,shard,message", [
    ({"OFFSET": "9990"}, 0, "OFFSET=9990 IMAGES=50 (shard 0 of 2): images 9990..10039 are outside the test set (0..9999)"),
    ({"OFFSET": "9900", "IMAGES": "60"}, 1,
     "OFFSET=9900 IMAGES=60 (shard 1 of 2): images 9960..10019 are outside the test set (0..9999)"),
    ({"IMAGES": "0"}, 0, "OFFSET=0 IMAGES=0 (shard 0 of 2): at least 1 image needed"),
    ({"IMAGES": "fifty"}, 0, "IMAGES='fifty' is not an integer"),
    ({"OFFSET": "-1"}, 0, "OFFSET=-1 IMAGES=50 (shard 0 of 2): images -1..48 are outside the test set (0..9999)"),
])
def test_regress_image_ranges_before_build(no_build, monkeypatch, tmp_path, env, shard, message):
    from tb import test_regress
    monkeypatch.setattr(test_regress, "SHARDS", 2)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert failed_message(lambda: test_regress.test_regress_shard(shard)) == message
    assert not (tmp_path / "sim_build").exists(), "a shard folder was created"


def test_regress_stress_images_before_build(no_build, monkeypatch, tmp_path):
    from tb import test_regress
    monkeypatch.setenv("STRESS_IMAGES", "9801")
    assert failed_message(test_regress.test_regress_stress) == \
        "STRESS_IMAGES=9801 (images from 200): images 200..10000 are outside the test set (0..9999)"
    assert not (tmp_path / "sim_build").exists()


def test_regress_bad_params_before_build(no_build, monkeypatch, tmp_path, truncated_export):
    """`make regress PARAMS=<damaged export>`: the harness build (whose $readmemh would only warn)
    never starts."""
    from tb import test_regress
    folder, message = truncated_export
    monkeypatch.setenv("PARAMS", str(folder))
    with pytest.raises(ParamsError) as info:
        test_regress.test_regress_shard(0)
    assert str(info.value) == message
    assert not (tmp_path / "sim_build").exists()
