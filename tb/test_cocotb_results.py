"""Tests of the pytest plugin ``tb.bench.cocotb_results``, without a simulator.

A pytest run in a temporary folder (pytester, in a subprocess: the plugin reads the
``tb.runner.RESULTS_FILES`` of its own process) has tests that append hand-written cocotb
results files to ``RESULTS_FILES`` as ``tb.runner.run_sim`` does, and raise
``SystemExit("FAILED n tests.")`` as cocotb-test does when a cocotb test failed. Every
cocotb test case must appear as a test of its own, with its outcome and message, in the
summary, in ``-r`` and in the JUnit file, with and without pytest-xdist.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from tb.bench.cocotb_results import read_results
from tb.runner import REPO

pytest_plugins = ["pytester"]

RESULTS = """<?xml version='1.0' encoding='utf-8'?>
<testsuites name="cocotb tests"><testsuite name="tb.test_fake" errors="1" failures="1" skipped="1" tests="4">
<testcase classname="tb.test_fake" name="test_pass" time="0.250"><properties>
<property name="cocotb" value="True" /><property name="random_seed" value="123" />
<property name="file" value="{file}" /><property name="line" value="10" />
<property name="sim_time_duration" value="6000.0" /></properties></testcase>
<testcase classname="tb.test_fake" name="test_fail/width=8" time="0.125">
<failure message="vector 3: expected index 4, actual 3" type="AssertionError">Traceback (most recent call last):
  File "{file}", line 21, in test_fail
AssertionError: vector 3: expected index 4, actual 3
</failure><properties><property name="random_seed" value="123" /><property name="file" value="{file}" />
<property name="line" value="20" /></properties>
<system-err>Test failed with COCOTB_RANDOM_SEED=123</system-err></testcase>
<testcase classname="tb.test_fake" name="test_skip" time="0.000"><skipped message="Test was skipped" />
<properties><property name="file" value="{file}" /><property name="line" value="30" /></properties></testcase>
<testcase classname="tb.test_fake" name="test_init" time="0.000"><error message="Test initialization failed" />
<properties><property name="file" value="{file}" /><property name="line" value="40" /></properties>
<system-err>Test failed with COCOTB_RANDOM_SEED=123</system-err></testcase>
</testsuite></testsuites>
"""

PASS_ONLY = """<?xml version='1.0' encoding='utf-8'?>
<testsuites name="cocotb tests"><testsuite name="tb.test_fake">
<testcase classname="tb.test_fake" name="test_pass" time="0.500" /></testsuite></testsuites>
"""

TESTS = """
from pathlib import Path

import pytest

from tb.runner import RESULTS_FILES

HERE = Path(__file__).parent


@pytest.mark.parametrize("case", ["a"])
def test_sim(case):
    RESULTS_FILES.append(HERE / "results_one.xml")
    raise SystemExit("FAILED 1 tests.")


def test_two_runs():
    RESULTS_FILES.append(HERE / "results_pass.xml")
    RESULTS_FILES.append(HERE / "results_pass.xml")


def test_missing():
    RESULTS_FILES.append(HERE / "no_such_results.xml")
    raise SystemExit("ERROR: Simulation terminated abnormally. Cocotb results file not found.")


def test_plain():
    pass
"""

# (classname, name) -> JUnit outcome element ("" for passed) of every test case
EXPECTED_JUNIT = {
    ("test_fake", "test_sim[a]"): "failure",
    ("test_fake.test_sim", "test_pass[a]"): "",
    ("test_fake.test_sim", "test_fail/width=8[a]"): "failure",
    ("test_fake.test_sim", "test_skip[a]"): "skipped",
    ("test_fake.test_sim", "test_init[a]"): "error",
    ("test_fake", "test_two_runs"): "",
    ("test_fake.test_two_runs", "test_pass"): "",
    ("test_fake.test_two_runs", "test_pass#2"): "",
    ("test_fake", "test_missing"): "failure",
    ("test_fake", "test_plain"): "",
}

# the -rfEs lines (each test's; in any order under xdist)
SUMMARY = (
    "FAILED test_fake.py::test_sim[[]a[]] - SystemExit: FAILED 1 tests.",
    "FAILED test_fake.py::test_sim::test_fail/width=8[[]a[]] - AssertionError: vector 3: expected index 4, actual 3",
    "FAILED test_fake.py::test_missing - SystemExit: ERROR: Simulation terminated abnormally.*",
    "ERROR test_fake.py::test_sim::test_init[[]a[]] - Test initialization failed",
    "SKIPPED [[]1[]] test_fake.py:30: Test was skipped",
)


@pytest.fixture
def fake_bench(pytester: pytest.Pytester, monkeypatch) -> pytest.Pytester:
    """A folder with test_fake.py and its two results files; the repository importable."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    path = pytester.makepyfile(test_fake=TESTS)
    (pytester.path / "results_one.xml").write_text(RESULTS.format(file=path))
    (pytester.path / "results_pass.xml").write_text(PASS_ONLY)
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[tuple[str, str], ET.Element]]:
    """Run the fake bench with the plugin; return the result and the JUnit test cases."""
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess("-p", "tb.bench.cocotb_results", "-p", "no:cacheprovider",
                                           "-vv", "-rfEs", f"--junitxml={junit}", *args)
    cases = {(tc.get("classname"), tc.get("name")): tc for tc in ET.parse(junit).getroot().iter("testcase")}
    return result, cases


def check_junit(cases: dict[tuple[str, str], ET.Element]) -> None:
    """One JUnit test case per pytest test and per cocotb test, each with its outcome."""
    outcomes = {key: next((child.tag for child in tc if child.tag in ("failure", "error", "skipped")), "")
                for key, tc in cases.items()}
    assert outcomes == EXPECTED_JUNIT
    fail = cases[("test_fake.test_sim", "test_fail/width=8[a]")]
    assert fail.find("failure").get("message") == "AssertionError: vector 3: expected index 4, actual 3"
    assert "COCOTB_RANDOM_SEED=123" in fail.find("failure").text
    assert "line 21, in test_fail" in fail.find("failure").text
    assert cases[("test_fake.test_sim", "test_init[a]")].find("error").get("message") == \
        'failed on setup with "Test initialization failed"'
    assert cases[("test_fake.test_sim", "test_skip[a]")].find("skipped").get("message") == "Test was skipped"
    passed = cases[("test_fake.test_sim", "test_pass[a]")]
    assert passed.get("time") == "0.250"
    assert {p.get("name"): p.get("value") for p in passed.iter("property")} == \
        {"random_seed": "123", "sim_time_ns": "6000.0"}


def test_read_results(tmp_path):
    """The parsed test cases of a results file: status, message with the exception type,
    traceback and seed, properties."""
    path = tmp_path / "results.xml"
    path.write_text(RESULTS.format(file="/x/test_fake.py"))
    cases = read_results(path)
    assert [(c["name"], c["status"]) for c in cases] == [
        ("test_pass", "passed"), ("test_fail/width=8", "failed"), ("test_skip", "skipped"), ("test_init", "error")]
    assert cases[0]["time"] == 0.25 and cases[0]["properties"]["random_seed"] == "123"
    assert cases[1]["message"] == "AssertionError: vector 3: expected index 4, actual 3"
    assert cases[1]["text"].startswith("Traceback") and cases[1]["text"].endswith("COCOTB_RANDOM_SEED=123")
    assert cases[2]["message"] == "Test was skipped" and cases[3]["message"] == "Test initialization failed"


def test_cases_reported(fake_bench):
    """Each cocotb test case is a test of its own, after its pytest test; a failing one also
    fails its pytest test (cocotb-test's SystemExit); a missing results file adds no case; a
    name repeated by a second simulation gets its number; progress ends at 100 %."""
    result, cases = run(fake_bench)
    result.assert_outcomes(passed=5, failed=3, skipped=1, errors=1)
    result.stdout.fnmatch_lines([
        "test_fake.py::test_sim[[]a[]] FAILED*",
        "test_fake.py::test_sim::test_pass[[]a[]] PASSED*",
        "test_fake.py::test_sim::test_fail/width=8[[]a[]] FAILED*",
        "test_fake.py::test_sim::test_skip[[]a[]] SKIPPED*",
        "test_fake.py::test_sim::test_init[[]a[]] ERROR*",
        "test_fake.py::test_two_runs PASSED*",
        "test_fake.py::test_two_runs::test_pass PASSED*",
        "test_fake.py::test_two_runs::test_pass#2 PASSED*",
        "test_fake.py::test_missing FAILED*",
        "test_fake.py::test_plain PASSED*",
    ])
    result.stdout.fnmatch_lines([
        "*_ test_sim::test_fail/width=8[[]a[]] _*",
        "AssertionError: vector 3: expected index 4, actual 3",
        "Test failed with COCOTB_RANDOM_SEED=123",
        "test_fake.py:20: AssertionError: vector 3: expected index 4, actual 3",
    ])
    for line in SUMMARY:
        result.stdout.fnmatch_lines([line])
    assert "::test_missing::" not in result.stdout.str()
    progress = [int(p) for p in re.findall(r"\[\s*(\d+)%\]", result.stdout.str())]
    assert max(progress) == progress[-1] == 100, f"progress column {progress}: cases must keep it within 100 %"
    check_junit(cases)


def test_cases_reported_under_xdist(fake_bench):
    """The same cases, outcomes and JUnit file with two pytest-xdist workers."""
    result, cases = run(fake_bench, "-n", "2")
    result.assert_outcomes(passed=5, failed=3, skipped=1, errors=1)
    for line in SUMMARY:
        result.stdout.fnmatch_lines([line])
    check_junit(cases)


EXPECTED_FAILURE = """
from pathlib import Path

import pytest

from tb.runner import RESULTS_FILES


@pytest.mark.cocotb_failure_expected("fault injected")
def test_fault():
    RESULTS_FILES.append(Path(__file__).parent / "results_one.xml")
"""


def test_expected_failures_are_xfailed(fake_bench):
    """A test marked cocotb_failure_expected (it asserts the failure itself) reports its failing
    cocotb test as xfailed with the reason, its passing one as passed."""
    fake_bench.makepyfile(test_fault=EXPECTED_FAILURE)
    result = fake_bench.runpytest_subprocess("-p", "tb.bench.cocotb_results", "-p", "no:cacheprovider",
                                             "-rx", "test_fault.py")
    result.assert_outcomes(passed=2, xfailed=1, skipped=1, errors=1)
    result.stdout.fnmatch_lines(["XFAIL test_fault.py::test_fault::test_fail/width=8 - fault injected"])
