"""The store-cost benchmark still runs, and its meter charges as DynamoDB does.

The smoke run uses two small flows; the meter's rules are checked against the worked examples
of DynamoDB's documentation (item sizes, rounding, index entries), since every figure in
docs/benchmarks.md stands on them, and against DynamoDB Local's own ``ConsumedCapacity``.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "store_cost.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("store_cost_bench", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["store_cost_bench"] = module
    spec.loader.exec_module(module)
    return module


def test_item_sizes_follow_dynamodbs_rules() -> None:
    sc = _bench()
    assert sc.item_size({"PK": {"S": "abc"}}) == 2 + 3
    assert sc.item_size({"n": {"N": "12345"}}) == 1 + 4  # (5 significant digits + 1) / 2, + 1
    assert sc.item_size({"n": {"N": "-0.0012"}}) == 1 + 2  # leading zeros, sign and point do not count
    assert sc.item_size({"b": {"BOOL": True}}) == 1 + 1
    assert sc.item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)
    assert sc.item_size({"ü": {"S": "é"}}) == 2 + 2  # UTF-8 bytes, names too
    assert sc.item_size(None) == 0


def test_capacity_units_round_up_per_kilobyte_and_four_kilobytes() -> None:
    sc = _bench()
    assert [sc.write_units(s) for s in (0, 1, 1024, 1025, 3000)] == [1, 1, 1, 2, 3]
    assert sc.read_units(4096, consistent=True) == 1.0
    assert sc.read_units(4097, consistent=True) == 2.0
    assert sc.read_units(100, consistent=False) == 0.5


def test_an_index_entry_costs_a_put_to_appear_a_delete_to_go_and_both_to_move() -> None:
    sc = _bench()
    due = sc.Index("due", ("due_pk", "due_at"), ())
    base = {"PK": {"S": "R#r"}, "SK": {"S": "T#t"}, "doc": {"S": "x" * 2000}}
    at = lambda t: {**base, "due_pk": {"S": "DUE"}, "due_at": {"N": str(t)}}  # noqa: E731
    assert due.writes(base, base) == 0  # not in the sparse index
    assert due.writes(base, at(5)) == 1  # keys only: the 2,000-byte doc is not copied
    assert due.writes(at(5), base) == 1
    assert due.writes(at(5), at(6)) == 2
    assert due.writes(at(5), {**at(5), "doc": {"S": "y"}}) == 0  # an unprojected change costs nothing
    runs = sc.Index("runs", ("runs_pk", "created_sk"), ("state",))
    run = {**base, "runs_pk": {"S": "RUNS"}, "created_sk": {"S": "1"}, "state": {"S": "RUNNING"}}
    assert runs.writes(run, {**run, "state": {"S": "SUCCESS"}}) == 1  # a projected attribute changed


def test_the_quick_store_cost_benchmark_completes_every_task_and_charges_each(tmp_path: Path) -> None:
    out = tmp_path / "store_cost.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert {"measured_at", "command", "machine", "goal", "prices", "assumptions", "method", "flows"} <= set(
        doc
    )
    assert doc["command"] == "python bench/store_cost.py --quick"
    assert [f["tasks"] for f in doc["flows"]] == [10, 7]
    for f in doc["flows"]:
        assert f["completed"] == f["tasks"] and f["run_state"] == "SUCCESS"
        per = f["per_task"]
        assert per["write_units"] == round(per["write_units_table"] + per["write_units_index"], 3)
        # at least: the task's creation, its claim, its promise, its settle, its finish
        assert per["write_units_table"] >= 5 and per["read_units"] > 0
        settle = f["by_phase"]["settle"]
        assert settle["calls"]["UpdateItem"] >= f["tasks"] and settle["per"] == f["tasks"]
        assert f["by_phase"]["webhook"]["write_units_table"] == 0  # the callback came first: reads only
        money = f["dollars_per_million_tasks"]
        assert abs(money["total"] - (money["dynamodb"] + money["lambda"])) < 0.002 and money["lambda"] > 0
    sfn = doc["step_functions_callback_pattern"]["2 transitions"]
    assert sfn["dollars_per_million"] > 50  # 2 x $25 per million transitions, before its Lambda


def test_on_dynamodb_local_the_engines_own_count_agrees_with_the_meter(
    tmp_path: Path, dynamodb_local_server: Any
) -> None:
    """``--endpoint``: the same flows on DynamoDB Local, which reports ``ConsumedCapacity`` as the
    service does. Reads agree exactly; the meter charges at most what the engine leaves out: a
    failed conditional write (its error carries no capacity) and an index entry a transaction
    moves."""
    out = tmp_path / "store_cost.json"
    endpoint = dynamodb_local_server.endpoint
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--endpoint", endpoint, "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["engine"] == f"DynamoDB at {endpoint}"
    for f in doc["flows"]:
        assert f["completed"] == f["tasks"] and f["run_state"] == "SUCCESS"
        engine, meter = f["engine_reported_units"], f["meter_units"]
        assert engine["read"] == meter["read"] > 0
        calls = Counter[str]()
        for phase in f["by_phase"].values():
            calls.update(phase["calls"])
        slack = meter["failed_conditions"] + calls["TransactWriteItems"]
        assert 0 <= meter["write"] - engine["write"] <= slack, (engine, meter, slack)
