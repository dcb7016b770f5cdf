"""``lakehook graph`` and ``validate``: Mermaid text, pictures, exit codes."""

from __future__ import annotations

import json
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
    assert text.count("-->") + text.count("-.->") == sum(len(t.depends_on) for t in manifest.tasks)


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


CORPUS = REPO / "tests" / "fixtures" / "cli_fidelity"


def test_warnings_print_as_warnings_and_pass_unless_strict() -> None:
    bundle = str(CORPUS / "unknown_field_in_a_job")
    ok = runner.invoke(app, ["validate", "--bundle", bundle])
    assert ok.exit_code == 0, ok.stderr
    assert "1 warning(s)" in ok.stderr and "notebook_taks" in ok.stderr and "databricks.yml:10" in ok.stderr
    assert "bundle is valid (1 warning(s))" in ok.stdout
    strict = runner.invoke(app, ["validate", "--bundle", bundle, "--strict"])
    assert strict.exit_code == 2 and "--strict: 1 warning(s) fail validation" in strict.stderr


def test_an_include_outside_the_bundle_root_validates_through_the_cli() -> None:
    result = runner.invoke(app, ["validate", "--bundle", str(CORPUS / "include_outside_root" / "root")])
    assert result.exit_code == 0 and "bundle is valid: no flows" in result.stdout, result.stderr


def test_validate_json_lists_every_problem_with_severity_and_location() -> None:
    result = runner.invoke(app, ["validate", "--bundle", str(CORPUS / "for_each_retry_fields"), "--json"])
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert (doc["valid"], doc["errors"], doc["warnings"]) == (False, 1, 2)
    assert [(p["severity"], p["line"]) for p in doc["problems"]] == [
        ("error", 16),
        ("warning", 17),
        ("warning", 18),
    ]
    assert {(p["code"], p["file"], p["job"], p["task"]) for p in doc["problems"]} == {
        ("for_each_retries", "databricks.yml", "test_job", "parent_task")
    }
    clean = runner.invoke(app, ["validate", "--bundle", str(REPO), "--json"])
    assert clean.exit_code == 0
    assert json.loads(clean.stdout)["flows"] == {"ml_pipeline": 11, "nightly": 4}
    warned = runner.invoke(
        app, ["validate", "--bundle", str(CORPUS / "git_provider_case"), "--json", "--strict"]
    )
    assert warned.exit_code == 2 and json.loads(warned.stdout)["valid"] is False
