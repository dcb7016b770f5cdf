"""``lakehook schedule list | pause FLOW | resume FLOW``: lakehook's switch for flow schedules.

A flow's schedule lives in its bundle job (``schedule`` or ``trigger.periodic``, always
``pause_status: PAUSED`` so Databricks never fires it); whether lakehook fires it is this switch,
kept in the resolver. It talks to the resolver at ``LAKEHOOK_URL`` like ``lakehook runs``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from lambda_resolver.cli.app import EXIT_RUN_FAILED, EXIT_USAGE, app
from lambda_resolver.client import LakehookClient, LakehookClientError
from lambda_resolver.publish.diff import schedule_text

schedule_app = typer.Typer(
    help="Show, pause and resume flow schedules (lakehook fires them; Databricks never does).",
    no_args_is_help=True,
)
app.add_typer(schedule_app, name="schedule")

out = Console()
err = Console(stderr=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly the resolver's document.")]


def _call(action: Any) -> Any:
    try:
        return action(LakehookClient())
    except LakehookClientError as exc:
        err.print(f"[red]{exc.message}[/] [dim]({exc.status} {exc.code})[/]", highlight=False)
        raise typer.Exit(EXIT_USAGE if exc.status != 0 else EXIT_RUN_FAILED) from None


def schedules_table(docs: list[dict[str, Any]]) -> Table:
    """One row a flow: its schedule, whether lakehook fires it, the next fire time."""
    table = Table(title="schedules", title_style="bold")
    for column in ("flow", "schedule", "active", "next fire (UTC)"):
        table.add_column(column)
    for doc in docs:
        active = bool(doc.get("active"))
        table.add_row(
            str(doc.get("flow")),
            schedule_text(doc.get("schedule")),
            Text("active", "green") if active else Text("paused", "yellow"),
            str(doc.get("next_at") or "—"),
        )
    return table


def _said(doc: dict[str, Any]) -> str:
    state = "[green]active[/]" if doc.get("active") else "[yellow]paused[/]"
    nxt = f", next fire {doc['next_at']}" if doc.get("next_at") else ""
    return f"{doc['flow']}: {schedule_text(doc.get('schedule'))} — {state}{nxt}"


@schedule_app.command("list")
def list_schedules(as_json: JsonOpt = False) -> None:
    """Every flow with a schedule: the schedule, active or paused, the next fire time."""
    docs: list[dict[str, Any]] = _call(lambda c: c.schedules())
    if as_json:
        typer.echo(json.dumps({"schedules": docs}, indent=2))
        return
    if not docs:
        out.print("no flow has a schedule (give a flow job `schedule` or `trigger.periodic`, then publish)")
        return
    out.print(schedules_table(docs))


@schedule_app.command("pause")
def pause(flow: Annotated[str, typer.Argument(help="The flow.")], as_json: JsonOpt = False) -> None:
    """Stop firing FLOW's schedule (runs already started go on)."""
    doc: dict[str, Any] = _call(lambda c: c.pause_schedule(flow))
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
        return
    out.print(_said(doc), highlight=False)


@schedule_app.command("resume")
def resume(flow: Annotated[str, typer.Argument(help="The flow.")], as_json: JsonOpt = False) -> None:
    """Fire FLOW's schedule again, from its next slot after now (missed slots do not run)."""
    doc: dict[str, Any] = _call(lambda c: c.resume_schedule(flow))
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
        return
    out.print(_said(doc), highlight=False)
