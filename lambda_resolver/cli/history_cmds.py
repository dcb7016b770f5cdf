"""``lakehook runs``: the run history of a resolver, newest first, a page at a time."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from lambda_resolver.cli.app import EXIT_USAGE, app
from lambda_resolver.cli.remote import UrlOpt, err, out
from lambda_resolver.cli.render import ICONS
from lambda_resolver.cli.run_cmds import _client, _fail
from lambda_resolver.client import LakehookClientError

RUN_STATES = ("PENDING", "RUNNING", "SUCCESS", "SUCCESS_WITH_FAILURES", "FAILED", "CANCELED", "TIMEDOUT")


def runs_table(page: dict[str, Any]) -> Table:
    """One row a run: id, flow, state, when it started and ended, what started it."""
    table = Table(title="runs, newest first", title_style="bold")
    for column in ("run", "flow", "state", "created", "ended", "trigger"):
        table.add_column(column)
    for run in page.get("runs", []):
        _, style = ICONS.get(run["state"], ("?", ""))
        trigger = run.get("trigger") or {}
        table.add_row(
            run["run_id"],
            run["flow"],
            Text(run["state"], style),
            run.get("created_at") or "",
            run.get("ended_at") or "",
            str(trigger.get("type") or "manual"),
        )
    return table


@app.command()
def runs(  # noqa: PLR0917 - typer options
    flow: Annotated[str | None, typer.Option("--flow", help="Only this flow's runs.")] = None,
    state: Annotated[str | None, typer.Option("--state", help="Only runs in this state.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="Runs per page.")] = 20,
    cursor: Annotated[str | None, typer.Option("--cursor", help="Continue after a previous page.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print exactly the GET /v1/runs page.")] = False,
    url: UrlOpt = None,
) -> None:
    """List runs, newest first; the last line says how to see the next page."""
    if state is not None and state.upper() not in RUN_STATES:
        err.print(
            f"[red]--state {escape(state)} is not a run state;[/] use one of {', '.join(RUN_STATES)}",
            highlight=False,
        )
        raise typer.Exit(EXIT_USAGE)
    try:
        page = _client(url).runs_page(
            flow=flow, state=state.upper() if state else None, limit=limit, cursor=cursor
        )
    except LakehookClientError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps(page, indent=2))
        return
    if not page.get("runs"):
        out.print("no runs" + (" on this page" if cursor else ""))
        return
    out.print(runs_table(page))
    if page.get("next_cursor"):
        out.print(f"[dim]more: lakehook runs --cursor {page['next_cursor']}[/]", highlight=False)
