"""The AWS cold-start benchmark still runs: a one-repetition smoke run, its JSON checked for shape.

No timing thresholds: the figures depend on the machine. What must hold anywhere is that every
figure was measured (positive), and that the callback path never imports databricks-sdk.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "aws_cold_start.py"


def test_the_quick_cold_start_benchmark_writes_positive_figures(tmp_path: Path) -> None:
    out = tmp_path / "aws.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--out", str(out)],
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
