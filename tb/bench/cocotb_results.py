"""pytest plugin: every cocotb test a pytest test ran is reported as a pytest test of its own.

A bench's pytest test (``tb/test_fc_result_tx.py::test_fc_result_tx[10]``) builds and runs simulations
with :func:`tb.runner.run_sim`; each run leaves cocotb's JUnit results file in
:data:`tb.runner.RESULTS_FILES`. After the test, this plugin reads the files of the runs the
test made and reports each of their ``<testcase>`` elements as a test with its own node id,
outcome, duration (cocotb's wall time of the test) and failure message::

    tb/test_fc_result_tx.py::test_fc_result_tx[10]                 the build and the simulation
    tb/test_fc_result_tx.py::test_fc_result_tx::test_random[10]    cocotb test test_random of that run
    tb/test_fc_result_tx.py::test_fc_result_tx::test_ties[10]      cocotb test test_ties of that run

The pytest test's parameters stay last: pytest reads everything from an id's first ``[`` as
its parameters (``-ra`` and the JUnit file would mangle ``test_fc_result_tx[10]::test_ties``).
JUnit ``classname`` ``tb.test_fc_result_tx.test_fc_result_tx``, ``name`` ``test_ties[10]``, with
cocotb's ``random_seed`` and ``sim_time_ns`` as properties. A cocotb
test name that an earlier simulation of the same pytest test already reported gets the
simulation's number: ``...::run_stream#2[18]``.

What counts, in the summary line, ``-ra``, ``--junitxml`` and under pytest-xdist alike:

* the pytest test itself, as before: it fails when its build or a simulation fails or any of
  its cocotb tests fails (cocotb-test raises ``SystemExit("FAILED n tests.")``);
* each cocotb test once: passed; failed (cocotb's exception message, then its traceback and
  the ``COCOTB_RANDOM_SEED`` that replays it); an error at setup when cocotb could not start
  it; skipped (``cocotb.skipif``: cocotb's results keep no reason).

* a test marked ``@pytest.mark.cocotb_failure_expected(reason)`` (fault injection: the pytest
  test itself asserts that the simulation fails) reports its failing cocotb tests as xfailed
  with that reason, not as failures; its passing ones as passed.

So one failing cocotb test shows as two failures: the simulation's pytest test (``FAILED 1
tests.``) and the cocotb test with its message. A simulation that left no readable results
file (a build error, a crash) adds no cases; its pytest test's failure says why.

How: the process that runs the test (an xdist worker or pytest itself) attaches the cases to
the test's teardown report (attribute ``cocotb_cases``, plain data that xdist serializes with
the report); the process that reports (the xdist controller or pytest itself) turns them into
``pytest.TestReport`` objects after the test's ``pytest_runtest_logfinish`` and sends them
through ``pytest_runtest_logstart``/``logreport``/``logfinish``. A worker never logs them
itself: xdist's worker only forwards reports of the item it is running. The session's
``testscollected`` grows by one per case, so the progress column counts cases as they come
and ends at 100 %.
"""
from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from _pytest._code.code import ReprFileLocation, TerminalRepr
from _pytest._io import TerminalWriter

from tb.runner import RESULTS_FILES

EXPECTED_MARK = "cocotb_failure_expected"
CASES_ATTR = "cocotb_cases"  # the teardown report's attribute carrying the cases
PROPERTIES = {"random_seed": "random_seed", "sim_time_duration": "sim_time_ns"}  # cocotb -> JUnit

_START = pytest.StashKey[int]()


def read_results(path: Path) -> list[dict]:
    """The test cases of one cocotb results file.

    Returns:
        per ``<testcase>`` in file order: ``name``, ``time`` (s, float),
        ``status`` (``passed``/``failed``/``error``/``skipped``), ``message``
        (the failure/error/skip message, ``""`` if none), ``text`` (cocotb's traceback and
        stderr, ``""`` if none) and ``properties`` (``{name: value}`` strings).

    Raises:
        OSError, xml.etree.ElementTree.ParseError: the file is missing or not XML.
    """
    cases = []
    for tc in ET.parse(path).getroot().iter("testcase"):
        status, message, text = "passed", "", ""
        for tag in ("failure", "error", "skipped"):
            el = tc.find(tag)
            if el is not None:
                status = {"failure": "failed"}.get(tag, tag)
                kind = el.get("type")
                message = el.get("message") or ""
                if kind and tag != "skipped":
                    message = f"{kind}: {message}"
                text = el.text or ""
                break
        stderr = tc.findtext("system-err") or ""
        properties = {p.get("name"): p.get("value") for p in tc.iter("property")}
        cases.append({"name": tc.get("name", "?"), "time": float(tc.get("time") or 0.0),
                      "status": status, "message": message, "properties": properties,
                      "text": "\n".join(t.rstrip("\n") for t in (text, stderr) if t)})
    return cases


def item_cases(item: pytest.Item, files: list[Path]) -> list[dict]:
    """The cocotb test cases of the simulations ``item`` ran (their results ``files`` in run
    order), each a :func:`read_results` entry plus its ``nodeid`` and ``location``; an
    unreadable file adds none."""
    name = getattr(item, "originalname", item.name)
    params = item.name[len(name):]  # "[10-8]", or "" for a test without parameters
    base = item.nodeid[:len(item.nodeid) - len(params)]
    domain = item.location[2][:len(item.location[2]) - len(params)]
    mark = item.get_closest_marker(EXPECTED_MARK)
    expected = (mark.args[0] if mark.args else "failure expected") if mark else None
    cases, seen = [], set()
    for k, path in enumerate(files, 1):
        try:
            entries = read_results(path)
        except (OSError, ET.ParseError):
            continue
        for case in entries:
            test = case["name"] if case["name"] not in seen else f"{case['name']}#{k}"
            seen.add(test)
            case["nodeid"] = f"{base}::{test}{params}"
            case["xfail"] = expected
            case["location"] = (_relative(item, case["properties"].get("file")),
                                _lineno(case["properties"].get("line"), item.location[1]),
                                f"{domain}::{test}{params}")
            cases.append(case)
    return cases


def _relative(item: pytest.Item, file: str | None) -> str:
    """``file`` relative to the rootdir when inside it, else as cocotb wrote it; the item's
    file when cocotb wrote none."""
    if not file:
        return item.location[0]
    path = Path(file)
    if not path.is_absolute():
        path = item.config.rootpath / path
    try:
        return path.resolve().relative_to(item.config.rootpath.resolve()).as_posix()
    except ValueError:
        return file


def _lineno(line: str | None, default: int | None) -> int | None:
    """cocotb's 1-based ``line`` property as pytest's 0-based line number."""
    try:
        return int(line) - 1
    except (TypeError, ValueError):
        return default


@dataclasses.dataclass(eq=False)
class CocotbFailure(TerminalRepr):
    """A cocotb test's failure: ``reprcrash.message`` is cocotb's message (the ``-ra`` line,
    the JUnit ``message``); the report shows cocotb's traceback and seed below it."""

    reprcrash: ReprFileLocation
    text: str

    def toterminal(self, tw: TerminalWriter) -> None:
        tw.line(self.text.rstrip("\n") or self.reprcrash.message)
        self.reprcrash.toterminal(tw)


def case_reports(outer: pytest.TestReport, case: dict) -> list[pytest.TestReport]:
    """Setup, call and teardown reports of one cocotb test ``case`` (an :func:`item_cases`
    entry) of the pytest test whose teardown report is ``outer``, as pytest makes them for a
    test that passed, failed, failed at setup (cocotb ``error``) or was skipped at setup."""
    location = tuple(case["location"])
    path, lineno = location[0], (location[1] or 0) + 1
    props = case["properties"]
    common = {
        "nodeid": case["nodeid"], "location": location,
        "keywords": dict(outer.keywords),
        "user_properties": [(junit, props[name]) for name, junit in PROPERTIES.items() if name in props],
    }
    for attr in ("node", "worker_id", "item_index", "testrun_uid"):  # xdist's, when present
        if hasattr(outer, attr):
            common[attr] = getattr(outer, attr)
    status, message = case["status"], case["message"] or f"cocotb test {case['status']}"

    def report(when, outcome="passed", longrepr=None, duration=0.0):
        return pytest.TestReport(when=when, outcome=outcome, longrepr=longrepr, duration=duration, **common)

    failure = CocotbFailure(ReprFileLocation(path, lineno, message), case["text"])
    if status == "error":
        return [report("setup", "failed", failure), report("teardown")]
    if status == "skipped":
        return [report("setup", "skipped", (path, lineno, f"Skipped: {message}")), report("teardown")]
    if status == "failed" and case.get("xfail"):
        call = report("call", "skipped", failure, case["time"])
        call.wasxfail = case["xfail"]
        return [report("setup"), call, report("teardown")]
    call = (report("call", "failed", failure, case["time"]) if status == "failed"
            else report("call", duration=case["time"]))
    return [report("setup"), call, report("teardown")]


class CocotbResults:
    """The plugin object (registered by :func:`pytest_configure`)."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.reporting = not hasattr(config, "workerinput")  # not an xdist worker
        self.session: pytest.Session | None = None
        self.pending: dict[str, list[tuple[pytest.TestReport, list[dict]]]] = {}

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session = session

    # ------------------------------------------------------------ the process running the test

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem):
        item.stash[_START] = len(RESULTS_FILES)
        return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call):
        report = yield
        if call.when == "teardown" and _START in item.stash:
            cases = item_cases(item, RESULTS_FILES[item.stash[_START]:])
            if cases:
                setattr(report, CASES_ATTR, cases)
        return report

    # ------------------------------------------------------------ the process reporting

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        cases = getattr(report, CASES_ATTR, None)
        if self.reporting and cases:
            self.pending.setdefault(report.nodeid, []).append((report, cases))

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logfinish(self, nodeid: str, location) -> None:
        for outer, cases in self.pending.pop(nodeid, []):
            for case in cases:
                self.log_case(outer, case)

    def log_case(self, outer: pytest.TestReport, case: dict) -> None:
        """Log one cocotb test case as a pytest test."""
        hook, reports = self.config.hook, case_reports(outer, case)
        if self.session is not None:
            self.session.testscollected += 1
        hook.pytest_runtest_logstart(nodeid=case["nodeid"], location=reports[0].location)
        for report in reports:
            hook.pytest_runtest_logreport(report=report)
        hook.pytest_runtest_logfinish(nodeid=case["nodeid"], location=reports[0].location)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{EXPECTED_MARK}(reason): the test's cocotb tests are meant to fail "
                            "(reported as xfailed)")
    config.pluginmanager.register(CocotbResults(config), "cocotb_results")
