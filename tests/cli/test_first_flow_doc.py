"""docs/first-flow.md: the bundle skeleton on the page is the one that compiles (read from the page)."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from lambda_resolver.cli import bundle_cmds  # noqa: F401 - registers validate
from lambda_resolver.cli.app import app
from lambda_resolver.compiler import compile_bundle

PAGE = Path(__file__).resolve().parents[2] / "docs" / "first-flow.md"


def write_bundle(root: Path) -> Path:
    """The page's ``databricks.yml`` block, and its notebook block as every notebook it names."""
    text = PAGE.read_text()
    blocks = dict.fromkeys(("yaml", "python"), "")
    for lang, body in re.findall(r"```(yaml|python)\n(.*?)```", text, re.DOTALL):
        blocks[lang] = blocks[lang] or body
    (root / "databricks.yml").write_text(blocks["yaml"])
    for path in set(re.findall(r"notebook_path: (\./notebooks/\w+\.py)", blocks["yaml"])):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(blocks["python"])
    return root


def test_the_skeleton_on_the_page_validates_without_a_problem(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", "-b", str(write_bundle(tmp_path)), "--strict"])
    assert result.exit_code == 0, result.output
    assert "my_flow (6 tasks)" in result.output


def test_the_skeleton_has_every_piece_the_page_promises(tmp_path: Path) -> None:
    flow = compile_bundle(write_bundle(tmp_path), None)["my_flow"]
    kinds = {t.key: t.kind.value for t in flow.tasks}
    assert kinds == {
        "ingest": "job",
        "enough_rows": "condition",
        "score": "job",
        "approve": "external",
        "alert": "job",
        "cleanup": "job",
    }
    outcomes = {(d.task_key, t.key): d.outcome for t in flow.tasks for d in t.depends_on}
    assert outcomes[("enough_rows", "score")] == "true" and outcomes[("enough_rows", "alert")] == "false"
    assert flow.task("cleanup").run_if.value == "ALL_DONE"
    assert flow.task("ingest").max_retries == 2
    assert {j.key for j in flow.jobs} == {"ingest", "score", "alert", "cleanup", "approve"}
