"""The hot-path benchmark still runs (SQLite only): a small chain and two fan-outs, one of them
handed on in chunks. No timing thresholds; every figure measured, the chunks counted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_hot_path_benchmark_counts_the_invocations_of_a_chunked_fan_out(tmp_path: Path) -> None:
    out = tmp_path / "hot_path.json"
    args = ["--hops", "3", "--width", "4", "--width", "10", "--inline", "4", "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "hot_path.py"), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    sqlite = json.loads(out.read_text())["results"]["sqlite"]
    assert sqlite["hop"]["hops"] == 2 and sqlite["hop"]["ms"]["p50_ms"] > 0
    assert sqlite["settings"] == {"fanout_inline": 4}
    four, ten = sqlite["fan_out"]
    assert (four["width"], four["invocations"]) == (4, 1)  # one chunk: the settle alone
    assert (ten["width"], ten["invocations"]) == (10, 3)  # 4 + 4 + 2: two chunks handed on
    assert all(f["ms_to_last_run_now"] > 0 and f["settle_call_ms"] > 0 for f in (four, ten))
