"""Shared by the tests of the repository's own bundle: the bundle, its flows, what its jobs run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lambda_resolver.compiler import Bundle, compile_bundle, load_bundle
from lambda_resolver.core.manifest import FlowManifest

REPO = Path(__file__).resolve().parents[2]

JobFiles = Callable[[str], list[tuple[str, Path]]]


@pytest.fixture(scope="session")
def bundle() -> Bundle:
    """The repository's bundle, default target (dev), variables at their defaults."""
    return load_bundle(REPO, environ={})


@pytest.fixture(scope="session")
def flows() -> dict[str, FlowManifest]:
    """The repository's flows, compiled for the default target."""
    return compile_bundle(REPO, environ={})


@pytest.fixture(scope="session")
def child_jobs(bundle: Bundle) -> list[str]:
    """Every job that is neither a flow nor external: the jobs lakehook starts."""
    return [k for k, j in bundle.jobs.items() if not j.is_flow and not j.is_external]


@pytest.fixture(scope="session")
def job_files(bundle: Bundle) -> JobFiles:
    """``job_files(key)``: (task type, local file) of every notebook or Python file job ``key`` runs."""

    def files(key: str) -> list[tuple[str, Path]]:
        job = bundle.job(key)
        out = []
        for task in job.tasks:
            for kind, field in (("notebook_task", "notebook_path"), ("spark_python_task", "python_file")):
                if kind in task:
                    out.append((kind, job.resolve_path(REPO, task[kind][field], task["task_key"])))
        return out

    return files
