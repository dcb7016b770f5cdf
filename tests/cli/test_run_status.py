"""``status``, ``run``, ``logs``, ``graph --run`` against a real local stack (CliRunner, real HTTP)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lambda_resolver.cli import bundle_cmds, history_cmds, local_cmds, logs_cmd, publish_cmd, run_cmds  # noqa: F401
from lambda_resolver.cli.app import app
from lambda_resolver.client import LakehookClient
from lambda_resolver.local.stack import LocalStack

from support.e2e import E2E_BUNDLE, REPO

runner = CliRunner()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(E2E_BUNDLE, tmp_path_factory.mktemp("state"), port=0, reconcile_interval_s=0.1) as s:
        yield s


@pytest.fixture(scope="module")
def failed_run(stack: LocalStack) -> str:
    c = LakehookClient(stack.url)
    c.start_run("fails", run_id="f1")
    assert c.wait("f1", timeout_s=60, poll_s=0.1)["state"] == "FAILED"
    return "f1"


def cli(stack: LocalStack, *args: str, columns: int = 200) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--url", stack.url], env={"COLUMNS": str(columns)})
    return result.exit_code, result.output


def test_status_shows_an_approval_gate_as_waiting_with_the_line_that_resolves_it(stack: LocalStack) -> None:
    c = LakehookClient(stack.url)
    c.start_run("approval", run_id="gate-1")
    c._wait(lambda: c.get_run("gate-1"), lambda d: d["tasks"][1]["promise_id"], "gate", 60, 0.1)
    code, text = cli(stack, "status", "gate-1")
    assert code == 0
    assert "WAITING FOR APPROVAL" in text
    assert "gate-1.build.1" in text  # every task's promise id
    code, logs = cli(stack, "logs", "gate-1", "approve", "--json")
    assert code == 0 and "started no Databricks run" in json.loads(logs)["note"]
    code, logs = cli(stack, "logs", "gate-1", "ship", "--json")
    assert code == 0 and json.loads(logs)["note"] == "the task has not started"
    line = next(x for x in text.splitlines() if "lakehook resolve" in x)
    argv = shlex.split(line[line.index("lakehook resolve") :])
    assert argv[:3] == ["lakehook", "resolve", "gate-1.approve.1"]
    assert argv[argv.index("--url") + 1] == stack.url  # not the default URL: the line says where
    assert runner.invoke(app, argv[1:]).exit_code == 0
    done = c.wait("gate-1", timeout_s=60, poll_s=0.1)
    assert done["tasks"][1]["state"] == "SUCCESS" and done["tasks"][1]["value"] == json.loads(argv[4])
    code, text = cli(stack, "status", "gate-1")
    assert "WAITING FOR APPROVAL" not in text and "lakehook resolve" not in text


def test_status_of_a_failed_run_says_why_and_where_the_log_is(stack: LocalStack, failed_run: str) -> None:
    code, text = cli(stack, "status", failed_run)
    assert code == 1
    assert "explode FAILED: ValueError: the input is bad" in text
    log_line = next(x for x in text.splitlines() if x.strip().startswith("log:"))
    path = log_line.split()[1]
    assert path.endswith("/main.log") and "ValueError: the input is bad" in Path(path).read_text()
    assert f"lakehook logs {failed_run} explode --url {stack.url}" in log_line
    assert "f1.explode.1" in text


def test_errors_are_cut_to_the_terminals_width(stack: LocalStack, failed_run: str) -> None:
    wide = next(x for x in cli(stack, "status", failed_run, columns=200)[1].splitlines() if "✗ explode" in x)
    narrow = next(x for x in cli(stack, "status", failed_run, columns=50)[1].splitlines() if "✗ explode" in x)
    assert "(log: " in wide and wide.rstrip().endswith(".log)")  # the whole reason fits
    assert len(narrow) <= 50 and narrow.endswith("…")


def test_logs_shows_the_failed_tasks_log_file_and_trace(stack: LocalStack, failed_run: str) -> None:
    code, text = cli(stack, "logs", failed_run, "explode")
    assert code == 1
    assert "error: ValueError: the input is bad" in text
    assert 'raise ValueError("the input is bad")' in text  # the trace
    assert "lakehook: running notebook" in text  # the log file itself, from its first line
    code, text = cli(stack, "logs", failed_run, "first", "--json")
    doc = json.loads(text)
    assert code == 0 and doc["state"] == "SUCCESS" and doc["attempt"] == 1
    assert "lakehook: finished" in doc["tasks"][0]["logs"]  # a notebook that passed has its log too


def test_logs_refuses_an_unknown_task_or_attempt_with_exit_2(stack: LocalStack, failed_run: str) -> None:
    code, _ = cli(stack, "logs", failed_run, "nope")
    assert code == 2
    code, _ = cli(stack, "logs", failed_run, "explode", "--attempt", "2")
    assert code == 2


def test_logs_follow_waits_for_the_task_to_end(stack: LocalStack) -> None:
    LakehookClient(stack.url).start_run("fails", run_id="f-follow")
    code, text = cli(stack, "logs", "f-follow", "explode", "--follow")
    assert code == 1
    assert "FAILED (attempt 1)" in text and "the input is bad" in text


def test_run_with_the_id_of_an_existing_run_says_so_and_shows_it(stack: LocalStack, failed_run: str) -> None:
    code, text = cli(stack, "run", "fails", "--run-id", failed_run)
    assert f"run {failed_run} already exists (started " in " ".join(text.split())
    assert "started run" not in text
    assert "explode" in text  # the run's table
    assert code == 1  # that run failed


def test_graph_of_a_run_of_another_flow_is_an_error(stack: LocalStack, failed_run: str) -> None:
    code, text = cli(stack, "graph", "approval", "-b", str(E2E_BUNDLE), "--run", failed_run)
    assert code == 2
    assert "run f1 is a run of flow 'fails', not 'approval'" in " ".join(text.split())
    code, text = cli(stack, "graph", "fails", "-b", str(E2E_BUNDLE), "--run", failed_run)
    assert code == 0
    assert "t_explode -.-> t_cleanup" in text  # cleanup runs ALL_DONE: the edge says so
    assert "run_if ALL_DONE" in text and "<b>UPSTREAM_FAILED</b>" in text


def test_help_shows_flags_as_flags_and_names_not_python_types() -> None:
    text = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).output
    assert "<bool>" not in text and "<str>" not in text and "{" not in text.replace("{id}", "")
    assert "lakehook run [OPTIONS] FLOW" in text
    assert "--url" in text and "URL" in text
    assert runner.invoke(app, ["--version"]).output.startswith("lakehook ")
    top = runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    assert "--install-completion" in top and "<bool>" not in top


def test_dev_event_lines_say_why_a_task_failed_and_how_to_approve() -> None:
    failed = local_cmds._event_line(
        "task_finished",
        {"run_id": "r", "task_key": "t", "attempt": 1, "state": "FAILED", "error": "ValueError: bad\nmore"},
    )
    assert failed is not None and "FAILED (attempt 1): [red]ValueError: bad more" in failed
    gate = local_cmds._event_line(
        "task_claimed", {"run_id": "r", "task_key": "approve", "external": True, "promise_id": "r.approve.1"}
    )
    assert gate is not None and "lakehook resolve r.approve.1 --value" in gate
    published = local_cmds._event_line("flows_published", {"flows": {"nightly": 3}})
    assert published is not None and "nightly v3" in published and "{" not in published


@pytest.mark.parametrize(
    "command",
    [
        ["run", "fails"],
        ["status", "r"],
        ["resolve", "r.t.1"],
        ["reject", "r.t.1"],
        ["cancel", "r"],
        ["runs"],
        ["logs", "r", "t"],
        ["graph", "fails", "-b", str(E2E_BUNDLE), "--run", "r"],
        [
            "publish",
            "-t",
            "dev",
            "-b",
            str(REPO),
            "--summary",
            str(REPO / "tests/fixtures/bundle_summary/dev.json"),
        ],
    ],
)
def test_every_command_that_talks_to_a_resolver_takes_url_and_exits_2_when_it_is_down(
    command: list[str],
) -> None:
    result = runner.invoke(app, [*command, "--url", "http://127.0.0.1:9"], env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert "cannot reach the resolver at http://127.0.0.1:9" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_runs_lists_the_history_of_the_resolver_given_by_url(stack: LocalStack, failed_run: str) -> None:
    code, text = cli(stack, "runs", "--flow", "fails")
    assert code == 0 and failed_run in text
