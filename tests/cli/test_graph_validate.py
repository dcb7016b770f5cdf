"""``lakehook graph`` and ``validate``: Mermaid text, pictures, exit codes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lambda_resolver.cli import bundle_cmds, local_cmds, run_cmds  # noqa: F401 - they register commands
from lambda_resolver.cli.app import app
from lambda_resolver.cli.graph import dot, mermaid
from lambda_resolver.compiler import compile_bundle

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "bundles"
runner = CliRunner()


def test_mermaid_draws_every_task_edge_and_condition_outcome() -> None:
    manifest = compile_bundle(REPO, environ={})["ml_pipeline"]
    text = mermaid(manifest, {"train": "SUCCESS", "validate": "RUNNING"})
    assert text.startswith("flowchart LR\n")
    assert "t_check_metric{{" in text  # a condition is a hexagon
    assert "t_check_metric -- true --> t_approve" in text
    assert "t_check_metric -- false --> t_notify_rejected" in text
    assert "style t_train fill:#a3cfbb" in text and "<b>RUNNING</b>" in text
    assert text.count("-->") == sum(len(t.depends_on) for t in manifest.tasks)


def test_dot_marks_external_tasks_and_conditions() -> None:
    text = dot(compile_bundle(REPO, environ={})["ml_pipeline"])
    assert (
        '"approve" [label="approve", shape=box, fillcolor="#ffffff", style="rounded,filled,dashed"]' in text
    )
    assert '"check_metric" [label="check_metric", shape=diamond' in text


def test_graph_prints_mermaid_for_a_flow_and_refuses_an_unknown_one() -> None:
    ok = runner.invoke(app, ["graph", "nightly", "--bundle", str(REPO)])
    assert ok.exit_code == 0 and "t_extract_a --> t_combine" in ok.stdout
    bad = runner.invoke(app, ["graph", "nope", "--bundle", str(REPO)])
    assert bad.exit_code == 2 and "no flow 'nope'" in bad.stderr


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graph_draws_an_svg_with_graphviz(tmp_path: Path) -> None:
    out = tmp_path / "nightly.svg"
    result = runner.invoke(app, ["graph", "nightly", "--bundle", str(REPO), "-o", str(out)])
    assert result.exit_code == 0 and "<svg" in out.read_text()


def test_a_picture_needs_an_svg_or_png_path(tmp_path: Path) -> None:
    result = runner.invoke(app, ["graph", "nightly", "--bundle", str(REPO), "-o", str(tmp_path / "x.gif")])
    assert result.exit_code == 2 and ".svg or .png" in result.stderr


def test_validate_reports_every_problem_at_once_and_exits_2() -> None:
    good = runner.invoke(app, ["validate", "--bundle", str(REPO)])
    assert good.exit_code == 0 and "bundle is valid" in good.stdout
    bad = runner.invoke(app, ["validate", "--bundle", str(FIXTURES / "err_many")])
    assert bad.exit_code == 2
    assert "9 problem(s)" in bad.stderr and "[cycle]" in bad.stderr and "bundles/flow.yml:" in bad.stderr


def test_a_bad_var_says_how_to_write_it() -> None:
    result = runner.invoke(app, ["validate", "--bundle", str(REPO), "--var", "oops"])
    assert result.exit_code == 2 and "name=value" in result.stderr
