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
        tr.write_line(
            f"images {s['offset']}..{s['offset'] + s['count'] - 1}: {s.get('completed')} done, "
            f"{s.get('ref_matches')} == reference, {s.get('torch_matches')} == torch, "
            f"{s.get('label_correct')} correct; {s.get('images_per_s')} images/s, "
            f"{s.get('cycles_per_s')} cycles/s, {s.get('sim_wall_s')} s simulation")
    n = sum(s.get("completed") or 0 for s in rows)
    wall = time.time() - _SESSION_START
    tr.write_line(
        f"total: {n} images, {sum(s.get('ref_matches') or 0 for s in rows)} bit-exact vs reference, "
        f"{sum(s.get('torch_matches') or 0 for s in rows)} vs torch, "
        f"{100.0 * sum(s.get('label_correct') or 0 for s in rows) / max(n, 1):.2f}% vs labels; "
        f"pytest session wall time {wall:.0f} s (all its tests, builds included)")
