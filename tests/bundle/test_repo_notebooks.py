"""The notebooks and scripts of the repository's bundle: Databricks source format, valid Python, each
settles its task, and — run in order with the flows' real wiring — each hands its file to the next."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lambda_resolver.compiler import Bundle
from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.core.references import Reference, substitute

REPO = Path(__file__).resolve().parents[2]
WIDGET_READ = re.compile(r'dbutils\.widgets\.get\("([^"]+)"\)')
JobFiles = Callable[[str], list[tuple[str, Path]]]  # the `job_files` fixture (conftest.py)
SETTLES = re.compile(r"\bnotify_done\(|\bwith step\(\)|@step\(\)")


# --- notebooks ------------------------------------------------------------------------------------


def test_every_file_a_job_runs_exists(bundle: Bundle, job_files: JobFiles) -> None:
    for key in bundle.jobs:
        for _, path in job_files(key):
            assert path.is_file(), f"job {key} runs {path}, which does not exist"


def test_every_python_file_under_bundles_compiles() -> None:
    files = sorted((REPO / "bundles").rglob("*.py"))
    assert files
    for path in files:
        compile(path.read_text(encoding="utf-8"), str(path), "exec")


def test_notebooks_are_in_databricks_source_format(bundle: Bundle, job_files: JobFiles) -> None:
    notebooks = {p for k in bundle.jobs for kind, p in job_files(k) if kind == "notebook_task"}
    assert len(notebooks) >= 10
    for path in sorted(notebooks):
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# Databricks notebook source\n"), path
        cells = text.split("\n# COMMAND ----------\n")
        assert len(cells) >= 2, f"{path}: one cell only"
        assert "# MAGIC %md" in cells[0], f"{path}: the first cell says what the notebook does"


def test_every_job_a_flow_starts_settles_its_task(child_jobs: list[str], job_files: JobFiles) -> None:
    for key in child_jobs:
        for _, path in job_files(key):
            text = path.read_text(encoding="utf-8")
            assert "from notebook_lib import" in text, path
            assert SETTLES.search(text), path


def test_notebooks_read_only_the_parameters_their_jobs_declare(bundle: Bundle, job_files: JobFiles) -> None:
    for key in bundle.jobs:
        declared = set(bundle.job(key).parameters)
        for kind, path in job_files(key):
            if kind == "notebook_task":
                read = set(WIDGET_READ.findall(path.read_text(encoding="utf-8")))
                assert read <= declared, f"{path} reads {read - declared}, which job {key} does not declare"


# --- the notebooks run: each hands its file on to the next ---------------------------------------


class NotebookExit(Exception):
    """``dbutils.notebook.exit``: ends the notebook with a value, as on Databricks."""


class FakeDbutils:
    """Widgets from job parameters (``text`` only declares a default) and ``notebook.exit``."""

    def __init__(self, params: dict[str, str]) -> None:
        self.params = params
        self.widgets = self
        self.notebook = self

    def text(self, name: str, default: str, label: str | None = None) -> None:
        self.params.setdefault(name, default)

    def get(self, name: str) -> str:
        return self.params[name]

    def exit(self, value: str) -> None:
        raise NotebookExit(value)


class FlowDriver:
    """Runs a flow's jobs by hand, in an order the test chooses, with the flow's real wiring:
    each job gets its declared defaults overridden by the flow task's substituted job_parameters."""

    def __init__(
        self, bundle: Bundle, job_files: JobFiles, flow: FlowManifest, params: dict[str, str]
    ) -> None:
        self.bundle, self.job_files, self.flow = bundle, job_files, flow
        self.params = {**dict(flow.parameters), **params}
        self.values: dict[str, Any] = {}

    def _resolve(self, ref: Reference) -> str:
        if ref.kind == "job_param":
            return self.params[ref.name or ""]
        if ref.kind == "job_run_id":
            return "run-1"
        value = self.values[ref.task_key or ""][ref.name or ""]
        return value if isinstance(value, str) else json.dumps(value)

    def run(self, task_key: str) -> Any:
        task = self.flow.task(task_key)
        assert task.job_key is not None
        job = self.bundle.job(task.job_key)
        params = {**job.parameters, **{k: substitute(v, self._resolve) for k, v in task.parameters.items()}}
        ((kind, path),) = self.job_files(task.job_key)
        if kind == "notebook_task":
            namespace = {"__name__": "__main__", "dbutils": FakeDbutils(params)}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # notify_done off-flow: warns once, does nothing
                with pytest.raises(NotebookExit) as exited:
                    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)  # noqa: S102
            value = json.loads(str(exited.value))
        else:
            (spec,) = job.tasks
            args = spec["spark_python_task"]["parameters"]
            argv = [substitute(a, lambda r: params[r.name or ""]) for a in args]
            done = subprocess.run(
                [sys.executable, str(path), *argv],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "PYTHONPATH": str(REPO)},
                timeout=60,
            )
            assert "rejected" in done.stdout
            value = json.loads((Path(params["model"]).parent / "rejection.json").read_text(encoding="utf-8"))
        self.values[task_key] = value
        return value


@pytest.fixture
def drive(
    bundle: Bundle, job_files: JobFiles, flows: dict[str, FlowManifest], monkeypatch: pytest.MonkeyPatch
) -> Callable[[str, dict[str, str]], FlowDriver]:
    """``drive(flow, params)``: a FlowDriver for one of the repository's flows, off-flow (no handle)."""
    monkeypatch.delenv("LAKEHOOK", raising=False)
    return lambda flow, params: FlowDriver(bundle, job_files, flows[flow], params)


def test_the_nightly_notebooks_pass_their_files_along(
    drive: Callable[..., FlowDriver], tmp_path: Path
) -> None:
    d = drive("nightly", {"data_root": str(tmp_path), "run_date": "2026-11-23"})
    a, b = d.run("extract_a"), d.run("extract_b")
    folder = tmp_path / "nightly" / "2026-11-23"
    assert a == {"rows": 10, "path": str(folder / "extract_a.csv")}
    assert b == {"rows": 7, "path": str(folder / "extract_b.csv")}
    assert d.run("combine") == {"rows": 17, "path": str(folder / "combined.csv")}
    assert d.run("report") == {"report": str(folder / "report.json"), "rows": 17}
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert report["rows"] == 17
    assert {s: v["rows"] for s, v in report["sources"].items()} == {"a": 10, "b": 7}


@pytest.mark.parametrize(("force_auc", "branch"), [("", "deploy"), ("0.5", "notify_rejected")])
def test_the_ml_notebooks_take_the_branch_the_auc_decides(
    drive: Callable[..., FlowDriver], tmp_path: Path, force_auc: str, branch: str
) -> None:
    d = drive("ml_pipeline", {"data_root": str(tmp_path), "force_auc": force_auc})
    for key in ("features_users", "features_items", "features_events", "combine_features", "train"):
        d.run(key)
    auc = d.run("validate")["auc"]
    folder = tmp_path / "ml_pipeline" / "run-1"
    assert d.values["combine_features"] == {"rows": 200, "path": str(folder / "training_set.json")}
    taken = "deploy" if auc >= float(d.params["min_auc"]) else "notify_rejected"  # check_metric's test
    assert taken == branch
    if taken == "deploy":
        assert auc > 0.9  # the toy model learns the clicks
        d.values["approve"] = {"approved_by": "test"}  # the external gate, settled by hand
    d.run(taken)
    features = ["features_events.json", "features_items.json", "features_users.json"]
    assert d.run("cleanup") == {"removed": features}
    record = "deployment.json" if branch == "deploy" else "rejection.json"
    assert sorted(os.listdir(folder)) == sorted(["model.json", "training_set.json", record])
