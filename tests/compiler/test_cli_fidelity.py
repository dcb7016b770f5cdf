"""The Databricks CLI's verdict on a small bundle for each way lakehook once read bundles differently.

Each case under tests/fixtures/cli_fidelity/<case>/ holds a bundle and an expected.json: the verdict
(ok, warn, error), every problem (severity, code, file, line, job, task) and, in ``mirrors``, the CLI
source file or acceptance test whose behaviour it copies. Inside a flow job lakehook adds its own
rules; those cases say so in ``mirrors``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lambda_resolver.compiler import CompileError, compile_flows, diagnose_bundle, load_bundle

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "cli_fidelity"
CASES = sorted(p for p in CORPUS.iterdir() if (p / "expected.json").is_file())
FIELDS = ("severity", "code", "file", "line", "job", "task")


def expected(case: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((case / "expected.json").read_text(encoding="utf-8"))
    return doc


def test_the_corpus_covers_every_class_and_names_what_it_mirrors() -> None:
    assert len(CASES) >= 20
    verdicts = {expected(c)["verdict"] for c in CASES}
    assert verdicts == {"ok", "warn", "error"}
    for case in CASES:
        mirrors = expected(case)["mirrors"]
        assert "acceptance/bundle/" in mirrors or ".go" in mirrors or "lakehook" in mirrors, case.name


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_compiler_gives_the_databricks_cli_verdict(case: Path) -> None:
    want = expected(case)
    root = case / want.get("root", ".")
    bundle = load_bundle(root, None, environ={}, strict=False)  # no -t: the CLI picks the target
    report = diagnose_bundle(bundle)

    got = [{k: p.to_dict()[k] for k in FIELDS} for p in report.problems]
    assert got == want["problems"], [str(p) for p in report.problems]
    verdict = "error" if report.errors else "warn" if report.warnings else "ok"
    assert verdict == want["verdict"]
    for p in report.problems:  # every problem says what to do, where
        assert p.message and p.file is not None and (root / p.file).is_file()
    if "target" in want:
        assert bundle.target == want["target"]
    if "jobs" in want:
        assert sorted(bundle.jobs) == sorted(want["jobs"])
    for key, name in want.get("names", {}).items():
        assert bundle.jobs[key].name == name
    for name, value in want.get("variables", {}).items():
        assert bundle.variables[name] == value
    for where, local in want.get("paths", {}).items():
        job_key, task_key = where.split("/")
        job = bundle.jobs[job_key]
        written = job.task(task_key)["notebook_task"]["notebook_path"]
        assert job.resolve_path(bundle.root, written, task_key) == (case / local).resolve()
    if verdict == "error":
        with pytest.raises(CompileError) as err:
            compile_flows(bundle)
        assert [p.to_dict() for p in err.value.problems] == [p.to_dict() for p in report.errors]
    else:
        compile_flows(bundle)  # warnings never stop a bundle
