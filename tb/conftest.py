import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

_SESSION_START = time.time()


def pytest_terminal_summary(terminalreporter):
    """Throughput of the regression shards this session ran (tb/test_regress.py writes one
    summary.json per shard; read here so that it shows under pytest-xdist too)."""
    from tb.runner import SIM_BUILD
    rows = []
    for path in sorted((SIM_BUILD / "regress_runs").glob("*/summary.json")):
        if path.stat().st_mtime < _SESSION_START:
            continue
        try:
            rows.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    if not rows:
        return
    tr = terminalreporter
    tr.section("RTL regression (tb/test_regress.py)")
    for s in rows:
        torch_txt = "no torch model" if s.get("torch_matches") is None else f"{s.get('torch_matches')} == torch"
        tr.write_line(
            f"images {s['offset']}..{s['offset'] + s['count'] - 1} ({s.get('params', 'trained')} parameters): "
            f"{s.get('completed')} done, {s.get('ref_matches')} == reference, {torch_txt}, "
            f"{s.get('label_correct')} correct; {s.get('images_per_s')} images/s, "
            f"{s.get('cycles_per_s')} cycles/s, {s.get('sim_wall_s')} s simulation")
    n = sum(s.get("completed") or 0 for s in rows)
    trained = [s for s in rows if s.get("params", "trained") == "trained"]
    n_trained = sum(s.get("completed") or 0 for s in trained)
    wall = time.time() - _SESSION_START
    tr.write_line(
        f"total: {n} images, {sum(s.get('ref_matches') or 0 for s in rows)} bit-exact vs reference, "
        f"{sum(s.get('torch_matches') or 0 for s in rows)} vs torch; trained parameters: "
        f"{100.0 * sum(s.get('label_correct') or 0 for s in trained) / max(n_trained, 1):.2f}% of "
        f"{n_trained} vs labels; pytest session wall time {wall:.0f} s (all its tests, builds included)")
