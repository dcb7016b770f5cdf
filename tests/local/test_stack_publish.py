"""LocalStack.publish reads the bundle once, unless it must point a `data_root` variable at the
state directory (then it reads it again with that value): reading a 10,000-task bundle takes most
of a minute."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lambda_resolver import compiler
from lambda_resolver.core.errors import CompileError
from lambda_resolver.local.stack import LocalStack

CHILD = """\
resources:
  jobs:
    work:
      name: work
      parameters:
        - {name: lakehook, default: ""}
        - {name: where, default: "DEFAULT"}
      tasks:
        - task_key: main
          notebook_task: {notebook_path: ../src/work.py}
"""
FLOW = """\
resources:
  jobs:
    f:
      tags: {lakehook: flow}
      tasks:
        - task_key: a
          run_job_task: {job_id: "${resources.jobs.work.id}"}
        - task_key: b
          depends_on: [{task_key: a}]
          run_job_task: {job_id: "${resources.jobs.work.id}"}
"""


def write(root: Path, *, data_root: bool = False, broken: bool = False) -> Path:
    (root / "bundles").mkdir(parents=True)
    (root / "src").mkdir()
    (root / "src" / "work.py").write_text("print('work')\n")
    main = "bundle: {name: t}\ninclude: [bundles/*.yml]\n"
    child = CHILD
    if data_root:
        main += "variables:\n  data_root: {default: /Volumes/main/files}\n"
        child = CHILD.replace('default: "DEFAULT"', 'default: "${var.data_root}"')
    if broken:
        child = child.replace("../src/work.py", "'${var.nowhere}'")
    (root / "databricks.yml").write_text(main)
    (root / "bundles" / "work.yml").write_text(child)
    (root / "bundles" / "f.yml").write_text(FLOW)
    return root


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The variables of every ``load_bundle`` call."""
    calls: list[dict[str, Any]] = []
    real = compiler.load_bundle

    def counting(root: Any, target: Any = None, variables: Any = None, **kw: Any) -> Any:
        calls.append(dict(variables or {}))
        return real(root, target, variables, **kw)

    monkeypatch.setattr(compiler, "load_bundle", counting)
    return calls


def test_a_bundle_without_data_root_is_read_once(tmp_path: Path, reads: list[dict[str, Any]]) -> None:
    stack = LocalStack(write(tmp_path / "b"), tmp_path / "state", port=0)
    with stack:
        assert len(reads) == 1
        assert stack.store.get_flow("f") is not None
        settings = stack.workspace.jobs.get(stack.workspace.job_ids()["work"]).settings
        assert {p["name"]: p["default"] for p in settings["parameters"]}["where"] == "DEFAULT"


def test_a_data_root_variable_points_at_the_state_directory(
    tmp_path: Path, reads: list[dict[str, Any]]
) -> None:
    state = tmp_path / "state"
    with LocalStack(write(tmp_path / "b", data_root=True), state, port=0) as stack:
        assert [r.get("data_root") for r in reads] == [None, str(state.resolve() / "volumes")]
        settings = stack.workspace.jobs.get(stack.workspace.job_ids()["work"]).settings
        assert {p["name"]: p["default"] for p in settings["parameters"]}["where"] == str(
            state.resolve() / "volumes"
        )


def test_a_bundle_that_does_not_read_is_refused_as_before(tmp_path: Path) -> None:
    stack = LocalStack(write(tmp_path / "b", broken=True), tmp_path / "state", port=0)
    try:
        with pytest.raises(CompileError, match="nowhere"):
            stack.start()
    finally:
        stack.stop()
