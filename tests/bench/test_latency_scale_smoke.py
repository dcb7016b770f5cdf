"""The latency and scale benchmarks still run: one smoke run each, their JSON checked for shape.

No timing thresholds: the figures depend on the machine. What must hold anywhere is that every
figure was measured (positive), that every hop and task was counted, and that every task ran
exactly once with one Databricks run per idempotency token.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HEADER = {"measured_at", "command", "machine", "versions", "goal", "method"}


def run_bench(script: str, out: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"wrote {out}" in proc.stdout
    doc: dict[str, Any] = json.loads(out.read_text())
    assert set(doc) >= HEADER
    assert doc["command"].startswith(f"python bench/{script} --quick")
    assert doc["machine"]["cpu_count"] >= 1 and doc["machine"]["python"] and doc["versions"]["databricks-sdk"]
    return doc


def positive(stats: dict[str, Any], *keys: str) -> None:
    for key in keys:
        assert stats[key] > 0, (key, stats)


def test_the_quick_latency_benchmark_measures_every_hop(tmp_path: Path) -> None:
    doc = run_bench("latency.py", tmp_path / "latency.json")
    assert doc["goal"]["p50_ms"] == 20 and doc["goal"]["p99_ms"] == 100
    assert doc["goal"]["speedup_vs_poller"] == 50

    lh = doc["lakehook"]
    tasks = lh["tasks"]
    assert tasks == 10 and lh["hops_per_repetition"] == tasks - 1 and lh["repetitions"] == 2
    positive(lh["hops_median_of_repetitions"], "p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms")
    assert lh["hops_pooled"]["n"] == 2 * (tasks - 1)
    assert lh["end_to_end_ms"]["min"] > 0 and len(lh["end_to_end_ms"]["values"]) == 2
    for rep in lh["per_repetition"]:
        assert rep["run_state"] == "SUCCESS"
        assert rep["hops"]["n"] == tasks - 1 and rep["hops"]["min_ms"] > 0
        assert rep["tasks_run"] == tasks and rep["runs_per_task_max"] == 1
        assert rep["callback_errors"] == []
        assert set(rep["hop_parts"]) == {
            "notify_done_to_resolver_app",
            "settle_to_task_finished",
            "propagate_and_claim_next",
            "create_promise_and_build_run_now",
            "sdk_run_now_to_workspace",
        }
        assert all(p["n"] == tasks - 1 and p["p50_ms"] > 0 for p in rep["hop_parts"].values())
        assert len(rep["worst_hops"]) == 3 and rep["worst_hops"][0]["ms"] > 0
        assert set(rep["gc_pauses"]) == {"gen0", "gen1", "gen2"}

    for poller in (doc["poller"], doc["poller_polling_at_once"]):
        assert poller["poll_interval_s"] == 0.05 and poller["tasks_run"] == tasks
        assert poller["hops"]["n"] == tasks - 1 and poller["hops"]["min_ms"] > 0
        assert poller["end_to_end_ms"] > 0 and poller["runs_get_calls"] >= tasks
    assert doc["poller"]["first_poll"] == "one interval after run-now"
    assert doc["poller"]["hops"]["min_ms"] >= 50  # it waited an interval before its first look
    assert doc["speedup_end_to_end"] > 0 and doc["poller_polling_at_once"]["speedup_end_to_end"] > 0

    profile = doc["resolver_profile"]
    assert profile["callbacks"] == tasks and profile["profiled_ms_per_callback"] > 0
    assert profile["own_ms_per_callback_by_component"]["sqlite (C: statements, commits)"] > 0
    assert profile["top_functions_by_own_time"][0]["own_ms_per_callback"] > 0

    # the warm-up, the repetitions and the profiled chain (the pollers send no token): one run per token
    assert doc["checks"]["runs_per_idempotency_token_max"] == 1
    assert doc["checks"]["lakehook_runs_started"] == 4 * tasks


def test_the_quick_scale_benchmark_runs_every_task_once(tmp_path: Path) -> None:
    doc = run_bench("scale.py", tmp_path / "scale.json")
    goal = doc["goal"]
    assert goal["steady_per_task_ratio_max"] == 1.5 and goal["compared"] == ["2x4", "3x4"]
    assert goal["ratio"] > 0 and goal["wall_per_task_ratio_largest_to_smallest"] > 0
    assert {"shapes", "why_these_shapes", "memory", "steady_per_task_ms"} <= set(doc["method"])

    sizes = doc["sizes"]
    assert [s["shape"] for s in sizes] == ["1x4", "2x4", "3x4"]
    for s in sizes:
        tasks = s["layers"] * s["width"]
        assert s["tasks"] == tasks and s["edges"] == (s["layers"] - 1) * s["width"] ** 2
        assert s["run_state"] == "SUCCESS"
        positive(s, "per_task_ms", "wall_s", "rss_before_run_mb", "bundle_yaml_bytes")
        positive(s["peak_rss_mb"], "compile_and_publish", "stack_start", "run", "process")
        positive(s, "stack_start_s", "start_request_ms")
        assert s["compile_s"]["total"] >= 0 and s["publish_s"] >= 0
        assert s["per_layer_ms"]["first_layer"] > 0
        assert set(s["gc_pauses"]) == {"gen0", "gen1", "gen2"}
        checks = s["checks"]
        assert checks["tasks_run"] == tasks and checks["tasks_run_more_than_once"] == 0
        assert checks["notebook_runs"] == tasks and checks["runs_started"] == tasks
        assert checks["run_now_requests"] == tasks and checks["run_now_resent"] == 0
        assert checks["runs_per_token_max"] == 1 and checks["callback_errors"] == []
        if s["layers"] > 1:
            assert s["per_layer_ms"]["later_layers"] == s["layers"] - 1 and s["steady_per_task_ms"] > 0
        else:
            assert "steady_per_task_ms" not in s
    assert doc["largest"]["tasks"] == 12 and doc["largest"]["peak_rss_mb"]["run"] > 0
