"""``lakehook logs RUN TASK``: a task attempt's error, trace and log, from its Databricks run.

Locally that is the task's whole log file (the local workspace serves it through
``runs/get-output``); against a deployed resolver, what ``runs/get-output`` gives (error, trace,
a script's output) and the run page link. ``--follow`` shows the task's state until it ends.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.markup import escape

from lambda_resolver.cli.app import EXIT_INTERRUPTED, EXIT_OK, EXIT_RUN_FAILED, app
from lambda_resolver.cli.remote import UrlOpt, client, err, fail, out
from lambda_resolver.client import LakehookClient, LakehookClientError

#: States after which an attempt's output no longer changes: the task's (latest attempt) or its
#: promise's (an earlier attempt, given --attempt).
ENDED = frozenset(
    {"SUCCESS", "FAILED", "TIMEDOUT", "CANCELED", "UPSTREAM_FAILED", "UPSTREAM_CANCELED", "EXCLUDED"}
    | {"RESOLVED", "REJECTED"}
)
FAILED = frozenset({"FAILED", "TIMEDOUT", "CANCELED", "REJECTED"})


def _follow(
    c: LakehookClient, run_id: str, task_key: str, attempt: int | None, poll_s: float
) -> dict[str, Any]:
    """Print the task's state each time it changes, until the attempt ended; its logs document."""
    shown = ""
    while True:
        doc = c.task_logs(run_id, task_key, attempt)
        line = f"{doc['state']} (attempt {doc['attempt']})"
        if line != shown:
            shown = line
            err.print(f"[dim]{escape(task_key)}:[/] {escape(line)}", highlight=False)
        if doc["state"] in ENDED:
            return doc
        time.sleep(poll_s)


def _print(doc: dict[str, Any]) -> None:
    head = f"{doc['run_id']} {doc['task_key']} attempt {doc['attempt']}: {doc['state']}"
    if doc.get("databricks_run_id"):
        head += f" · Databricks run {doc['databricks_run_id']}"
    out.print(escape(head), style="bold", highlight=False)
    if doc.get("run_page_url") and "//127.0.0.1:" not in doc["run_page_url"]:  # local: no page
        out.print(escape(f"run page: {doc['run_page_url']}"), style="dim", highlight=False)
    if doc.get("note"):
        out.print(escape(doc["note"]), style="dim", highlight=False)
    for task in doc.get("tasks") or []:
        result = task.get("result") or task.get("life")
        out.print(f"[bold]── {escape(task['task_key'])}[/] {escape(str(result))}", highlight=False)
        if task.get("error"):
            out.print(f"[red]error:[/] {escape(task['error'])}", highlight=False)
        if task.get("error_trace"):
            out.print(task["error_trace"].rstrip(), highlight=False, markup=False, soft_wrap=True)
        if task.get("logs"):
            cut = " (the start is cut)" if task.get("logs_truncated") else ""
            out.print(f"[dim]log{cut}:[/]", highlight=False)
            out.print(task["logs"].rstrip(), highlight=False, markup=False, soft_wrap=True)
        elif task.get("life") not in ("TERMINATED", "SKIPPED", "INTERNAL_ERROR"):
            out.print("  no output yet: the task run is still going (--follow waits for it)", style="dim")


@app.command()
def logs(  # noqa: PLR0917 - typer options
    run_id: Annotated[str, typer.Argument(help="The run id.")],
    task_key: Annotated[str, typer.Argument(help="The task (its key in the flow).")],
    attempt: Annotated[
        int | None, typer.Option("--attempt", min=1, help="This attempt (default: the latest).")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Show the task's state until it ends, then its output.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the logs document as JSON.")] = False,
    url: UrlOpt = None,
) -> None:
    """Show a task's error, trace and log (locally its log file; on Databricks runs/get-output).

    Exits 1 when the attempt failed, as `status` does for a run."""
    c = client(url)
    try:
        doc = _follow(c, run_id, task_key, attempt, 0.5) if follow else c.task_logs(run_id, task_key, attempt)
    except LakehookClientError as exc:
        raise fail(exc) from None
    except KeyboardInterrupt:
        err.print(f"stopped following; the task goes on (lakehook status {run_id})", highlight=False)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
    else:
        _print(doc)
    raise typer.Exit(EXIT_RUN_FAILED if doc["state"] in FAILED else EXIT_OK)
