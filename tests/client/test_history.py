"""Run history through the real API: the client's pages and ``lakehook runs``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from lambda_resolver.cli.app import app
from lambda_resolver.cli.history_cmds import runs  # noqa: F401 - registers the command
from lambda_resolver.client import LakehookClientError

from support.flows import flow, job_task

if TYPE_CHECKING:
    from client.conftest import Stack


def _start(stack: Stack, n: int) -> list[str]:
    stack.h.publish(flow("alpha", [job_task("only")], max_concurrent_runs=50))
    ids = []
    for i in range(n):
        stack.h.clock.advance(1)
        ids.append(stack.client.start_run("alpha", run_id=f"alpha-{i:02d}")["run_id"])
    return ids


def test_the_client_pages_through_every_run_once(stack: Stack) -> None:
    ids = _start(stack, 7)
    seen, cursor = [], None
    while True:
        page = stack.client.runs_page(limit=3, cursor=cursor)
        seen += [r["run_id"] for r in page["runs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]


def test_a_made_up_cursor_is_a_400_that_says_what_to_pass(stack: Stack) -> None:
    with pytest.raises(LakehookClientError) as bad:
        stack.client.runs_page(cursor="bm90LWEtY3Vyc29y")
    assert bad.value.status == 400 and "next_cursor" in bad.value.message


def test_lakehook_runs_prints_a_page_and_how_to_get_the_next(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _start(stack, 3)
    monkeypatch.setenv("LAKEHOOK_URL", stack.url)
    monkeypatch.setenv("LAKEHOOK_OPERATOR_KEY", stack.operator_key)
    cli = CliRunner()
    shown = cli.invoke(app, ["runs", "--limit", "2"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert ids[2] in shown.output and ids[1] in shown.output and ids[0] not in shown.output
    assert "more: lakehook runs --cursor " in shown.output
    cursor = shown.output.split("--cursor ")[1].split()[0]
    rest = cli.invoke(app, ["runs", "--limit", "2", "--cursor", cursor, "--json"])
    assert rest.exit_code == 0, rest.output
    page = json.loads(rest.output)
    assert [r["run_id"] for r in page["runs"]] == [ids[0]] and page["next_cursor"] is None
    wrong = cli.invoke(app, ["runs", "--state", "DONE"])
    assert wrong.exit_code == 2 and "not a run state" in wrong.output
