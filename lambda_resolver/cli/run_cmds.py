"""Commands against a running resolver: ``run``, ``status``, ``resolve``, ``reject``, ``cancel``.

They find it through ``LAKEHOOK_URL`` (default ``http://127.0.0.1:8765``, where ``lakehook dev``
listens) and ``LAKEHOOK_OPERATOR_KEY`` for a deployed resolver.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live

from lambda_resolver.cli.app import EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, app
from lambda_resolver.cli.bundle_cmds import parse_pairs
from lambda_resolver.cli.render import run_tree, summary_table
from lambda_resolver.client import FINAL_RUN_STATES, LakehookClient, LakehookClientError

out = Console()
err = Console(stderr=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly the GET /v1/runs/{id} document.")]
FAILED_STATES = frozenset({"FAILED", "CANCELED", "TIMEDOUT"})


def _client() -> LakehookClient:
    return LakehookClient()


def _fail(exc: LakehookClientError) -> typer.Exit:
    err.print(f"[red]{exc.message}[/] [dim]({exc.status} {exc.code})[/]", highlight=False)
    return typer.Exit(EXIT_USAGE if exc.status != 0 else EXIT_RUN_FAILED)


def exit_code(doc: dict[str, Any]) -> int:
    return EXIT_RUN_FAILED if doc.get("state") in FAILED_STATES else EXIT_OK


def follow(
    client: LakehookClient,
    run_id: str,
    *,
    as_json: bool,
    poll_s: float = 0.5,
    timeout_s: float | None = None,
) -> dict[str, Any]:
    """Show the run live until it is final (or ``timeout_s`` passed); return its last document."""
    if as_json:
        return client.wait(run_id, poll_s=poll_s)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    doc = client.get_run(run_id)
    with Live(run_tree(doc), console=out, refresh_per_second=8, transient=True) as live:
        while doc.get("state") not in FINAL_RUN_STATES:
            if deadline is not None and time.monotonic() > deadline:
                break
            time.sleep(poll_s)
            doc = client.get_run(run_id)
            live.update(run_tree(doc))
    out.print(run_tree(doc))
    return doc


@app.command()
def run(
    flow: Annotated[str, typer.Argument(help="The flow to start.")],
    param: Annotated[
        list[str] | None, typer.Option("-p", "--param", help="A flow parameter: name=value.")
    ] = None,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Makes the start idempotent.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Stream progress until the run ends.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Start a flow run and print its id (with --wait, follow it; exit 1 if it fails)."""
    client = _client()
    try:
        doc = client.start_run(flow, params=parse_pairs(param, "-p"), run_id=run_id)
        if not wait:
            typer.echo(json.dumps(doc, indent=2) if as_json else doc["run_id"])
            return
        if not as_json:
            out.print(f"started run [bold]{doc['run_id']}[/]")
        final = follow(client, doc["run_id"], as_json=as_json)
    except LakehookClientError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps(final, indent=2))
    raise typer.Exit(exit_code(final))


@app.command()
def status(
    run_id: Annotated[str, typer.Argument(help="The run id.")],
    watch: Annotated[bool, typer.Option("--watch", help="Keep showing it until it ends.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show a run: every task's state, attempt, timing and value."""
    client = _client()
    try:
        doc = follow(client, run_id, as_json=as_json) if watch else client.get_run(run_id)
    except LakehookClientError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
    elif not watch:
        out.print(summary_table(doc))
    raise typer.Exit(exit_code(doc) if doc.get("state") in FINAL_RUN_STATES else EXIT_OK)


@app.command()
def resolve(
    promise_id: Annotated[str, typer.Argument(help="The promise (a task attempt's id, shown by status).")],
    value: Annotated[str | None, typer.Option("--value", help="The value, as JSON.")] = None,
) -> None:
    """Resolve a promise as an operator: a human who knows the answer, or an approval."""
    try:
        parsed = None if value is None else json.loads(value)
    except json.JSONDecodeError as exc:
        err.print(f"[red]--value is not JSON:[/] {exc.msg}; quote strings, e.g. --value '\"ok\"'")
        raise typer.Exit(EXIT_USAGE) from None
    try:
        doc = _client().resolve(promise_id, parsed)
    except LakehookClientError as exc:
        raise _fail(exc) from None
    out.print(f"[green]✓[/] {doc['id']} is {doc['state']}")


@app.command()
def reject(
    promise_id: Annotated[str, typer.Argument(help="The promise to reject.")],
    error: Annotated[str, typer.Option("--error", help="Why.")] = "rejected by an operator",
) -> None:
    """Reject a promise as an operator; the task fails (and retries, if it has retries left)."""
    try:
        doc = _client().reject(promise_id, error)
    except LakehookClientError as exc:
        raise _fail(exc) from None
    out.print(f"[yellow]✗[/] {doc['id']} is {doc['state']}")


@app.command()
def cancel(run_id: Annotated[str, typer.Argument(help="The run to cancel.")]) -> None:
    """Cancel a run: running Databricks runs are canceled and nothing new starts."""
    try:
        doc = _client().cancel_run(run_id)
    except LakehookClientError as exc:
        raise _fail(exc) from None
    out.print(f"run {doc['run_id']} is {doc['state']}")
