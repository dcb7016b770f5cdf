"""The AWS cold-start benchmark still runs: a one-repetition smoke run, its JSON checked for shape.

No timing thresholds: the figures depend on the machine. What must hold anywhere is that every
figure was measured (positive), and that the callback path never imports databricks-sdk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "aws_cold_start.py"


def test_the_quick_cold_start_benchmark_writes_positive_figures(tmp_path: Path) -> None:
    out = tmp_path / "aws.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--out", str(out), "--modules-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "callback: import, warm" in proc.stdout
    doc = json.loads(out.read_text())

    assert {"measured_at", "command", "machine", "versions", "goal", "method", "paths", "zip"} <= set(doc)
    assert doc["command"].startswith("python bench/aws_cold_start.py --quick")
    assert doc["machine"]["cpu_count"] >= 1 and doc["machine"]["python"] and doc["machine"]["platform"]
    assert doc["goal"]["callback_path_import_ms"] == 300

    callback = doc["paths"]["callback"]
    assert callback["modules"] > 0 and callback["modules_by_package"]["lambda_resolver"] > 0
    assert callback["databricks_sdk_imported"] is False  # the callback path never pays for the SDK
    assert not {"boto3", "s3transfer"} & set(callback["modules_by_package"])  # botocore clients only
    warm = callback["import_ms"]["warm"]
    assert warm["n"] == 1 and warm["median_ms"] > 0 and warm["p90_ms"] > 0
    assert warm["modules_not_importable_alone"] == 0
    assert callback["profile_warm"]["self_ms_total"] > 0
    assert callback["profile_warm"]["top_cumulative"][0]["cumulative_ms"] > 0
    first = callback["first_request_ms"]["discovery_only"]
    assert all(first[k]["median_ms"] > 0 for k in ("import_handler", "first_event", "total", "second_event"))
    calls = callback["aws_calls"]["first_event"]
    assert calls["GetSecretValue"] >= 1 and calls["UpdateItem"] >= 1  # secrets read, promise settled
    # A callback builds neither the operator door (its routes, models, direct invocations) nor publishing.
    modules = set((tmp_path / "callback.modules").read_text().split())
    operator_only = {
        "lambda_resolver.http.operator_models",
        "lambda_resolver.http.routes_operator",
        "lambda_resolver.http.invoke",
        "lambda_resolver.core.manifest_checks",
    }
    assert "lambda_resolver.http.routes_callback" in modules and not operator_only & modules
    # Nor the engine's parts a callback never uses, nor the flow machinery a standalone promise's
    # callback does not (advancing, task kinds, for_each loops), nor schedules, run history or the
    # Databricks launcher (built by its first call): each is imported on first use.
    not_on_callback = {
        "lambda_resolver.core.reconcile",
        "lambda_resolver.core.repair",
        "lambda_resolver.core.scheduler",
        "lambda_resolver.core.history",
        "lambda_resolver.core.runs",
        "lambda_resolver.core.advance",
        "lambda_resolver.core.attempts",
        "lambda_resolver.core.fanout",
        "lambda_resolver.core.repair_plan",
        "lambda_resolver.core.kinds",
        "lambda_resolver.core.iterations",
        "lambda_resolver.core.launcher",
        "lambda_resolver.databricks.launcher",
        "lambda_resolver.core.schedule.machine",
        "lambda_resolver.core.schedule.spec",
        "lambda_resolver.core.kinds.run_job",
        "lambda_resolver.core.kinds.condition",
        "lambda_resolver.core.kinds.external",
        "lambda_resolver.core.kinds.for_each",
        "lambda_resolver.core.substitution",
        "lambda_resolver.core.references",
        "notebook_lib",
    }
    assert not_on_callback & modules == set()


@pytest.mark.slow
def test_the_zip_twin_is_imported_by_python_312_with_its_pyc_and_without(tmp_path: Path) -> None:
    """The x86_64 twin of the Lambda zip (a real build, pip against the registry), unpacked and
    imported by CPython 3.12: with the zip's .pyc nothing compiles, without them the path does."""
    out = tmp_path / "aws.json"
    quick = ["--paths", "callback", "--runs", "1", "--cold-runs", "1", "--e2e-runs", "1", "--no-drop-caches"]
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            *quick,
            "--profile-runs",
            "1",
            "--zip",
            "skip",
            "--zip-runs",
            "1",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    twin = json.loads(out.read_text())["zip_twin_py312"]
    if "skipped" in twin:
        assert os.environ.get("CI") != "true", twin["skipped"]  # CI has a CPython 3.12
        pytest.skip(twin["skipped"])
    assert twin["python"].startswith("3.12.")
    assert twin["build"]["pyc_files"] == twin["build"]["py_files"] > 0
    assert twin["sources_compiled"]["zip_pyc"] == 0 and twin["sources_compiled"]["zip_libraries_only"] == 0
    assert twin["sources_compiled"]["zip_no_pyc"] > 100
    assert (
        twin["modules_by_package"]["lambda_resolver"] > 0
        and "databricks.sdk" not in twin["modules_by_package"]
    )
    assert all(twin["import_ms"][c]["median_ms"] > 0 for c in ("zip_pyc", "zip_no_pyc", "zip_libraries_only"))
    assert twin["own_modules_pyc"]["modules"][0]["module"].startswith("lambda_resolver")
    assert twin["first_request_ms"]["zip_pyc"]["total"]["median_ms"] > 0
