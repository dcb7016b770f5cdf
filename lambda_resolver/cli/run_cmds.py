"""Commands against a running resolver: ``run``, ``status``, ``resolve``, ``reject``, ``cancel``.

They find it through ``--url`` or ``LAKEHOOK_URL`` (default ``http://127.0.0.1:8765``, where
``lakehook dev`` listens) and ``LAKEHOOK_OPERATOR_KEY`` for a deployed resolver.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.markup import escape

from lambda_resolver.cli.app import EXIT_INTERRUPTED, EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, app
from lambda_resolver.cli.bundle_cmds import parse_pairs
from lambda_resolver.cli.remote import FlowKinds, UrlOpt, client, err, fail, out, resolve_line, url_flag
from lambda_resolver.cli.render import next_steps, run_tree, summary_table
from lambda_resolver.client import FINAL_RUN_STATES, LakehookClient, LakehookClientError

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly the GET /v1/runs/{id} document.")]
FAILED_STATES = frozenset({"FAILED", "CANCELED", "TIMEDOUT"})

# history_cmds imports these two names.
_client = client
_fail = fail


def exit_code(doc: dict[str, Any]) -> int:
    return EXIT_RUN_FAILED if doc.get("state") in FAILED_STATES else EXIT_OK


def approval_hints(c: LakehookClient, kinds: FlowKinds, doc: dict[str, Any]) -> dict[str, str]:
    """Task key → the ``lakehook resolve`` line, for each approval gate ``doc`` waits on."""
    return {t["task_key"]: resolve_line(c, t["promise_id"]) for t in kinds.waiting(doc)}


def print_next_steps(c: LakehookClient, doc: dict[str, Any], hints: dict[str, str]) -> None:
    """Under a run: each approval to give and where each failure's log is (commands and paths,
    never cut), and each failure's reason (cut to the terminal's width)."""
    for line in next_steps(doc, hints, url_flag(c)):
        if "waits for approval" in line or "log:[/]" in line:
            out.print(line, highlight=False, soft_wrap=True)
        else:
            out.print(line, highlight=False, no_wrap=True, overflow="ellipsis")


def follow(
    c: LakehookClient,
    run_id: str,
    *,
    as_json: bool,
    poll_s: float = 0.5,
    stop: Callable[[dict[str, Any], dict[str, str]], bool] | None = None,
) -> dict[str, Any]:
    """:func:`watch`, where Ctrl-C stops watching (exit 130), not the run."""
    try:
        if as_json:
            return watch(c, run_id, as_json=as_json, poll_s=poll_s, stop=stop)
        with _ctrl_c_as_event() as interrupted:
            return watch(c, run_id, as_json=as_json, poll_s=poll_s, stop=stop, interrupted=interrupted)
    except KeyboardInterrupt:
        err.print(
            f"stopped watching; run {run_id} goes on (lakehook status {run_id}{url_flag(c)})", highlight=False
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None


@contextlib.contextmanager
def _ctrl_c_as_event() -> Iterator[threading.Event]:
    """While watching, Ctrl-C sets an event the watch loop looks at between polls, instead of
    raising wherever it lands (inside the live view's refresh lock, or an HTTP call): the view is
    closed by the loop itself, never left holding a lock its refresh thread waits for. Only where
    Ctrl-C would raise KeyboardInterrupt (the main thread, Python's own handler): a caller with
    its own handler (``lakehook demo``) keeps it."""
    interrupted = threading.Event()
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield interrupted
        return
    previous = signal.signal(signal.SIGINT, lambda _signum, _frame: interrupted.set())
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


def watch(
    c: LakehookClient,
    run_id: str,
    *,
    as_json: bool,
    poll_s: float = 0.5,
    stop: Callable[[dict[str, Any], dict[str, str]], bool] | None = None,
    interrupted: threading.Event | None = None,
) -> dict[str, Any]:
    """Show the run live until it is final (or ``stop`` says so); return its last document.

    A task waiting for approval shows the resolve line under it; ``stop`` sees every document
    with those lines (the demo uses it for its time limit and to speak to a caller that cannot
    see the live view). ``interrupted`` set: stop watching (KeyboardInterrupt, raised here
    once the live view is closed)."""
    interrupted = interrupted or threading.Event()
    if as_json:
        return c.wait(run_id, poll_s=poll_s)
    kinds = FlowKinds(c)
    doc = c.get_run(run_id)
    hints = approval_hints(c, kinds, doc)
    announced: set[str] = set()
    with Live(
        run_tree(doc, waiting=hints, hints=hints), console=out, refresh_per_second=8, transient=True
    ) as live:
        while doc.get("state") not in FINAL_RUN_STATES:
            # Once per gate, above the live view: the line stays when the view moves on, and a
            # caller whose output is not a terminal (no live view) sees it too.
            for key, line in hints.items():
                if line not in announced:
                    announced.add(line)
                    out.print(
                        f"[yellow]? {escape(key)} waits for approval:[/] {escape(line)}",
                        highlight=False,
                        soft_wrap=True,
                    )
            if stop is not None and stop(doc, hints):
                break
            if interrupted.wait(poll_s):
                break
            doc = c.get_run(run_id)
            hints = approval_hints(c, kinds, doc)
            live.update(run_tree(doc, waiting=hints, hints=hints))
    if interrupted.is_set():
        raise KeyboardInterrupt
    out.print(run_tree(doc, waiting=hints, hints=hints))
    print_next_steps(c, doc, {} if doc.get("state") in FINAL_RUN_STATES else hints)
    return doc


def show_status(c: LakehookClient, doc: dict[str, Any]) -> None:
    """The run as a table, then what waits for approval and why tasks failed."""
    hints = approval_hints(c, FlowKinds(c), doc)
    out.print(summary_table(doc, waiting=hints, width=out.width))
    print_next_steps(c, doc, hints)


def started_line(doc: dict[str, Any], created: bool) -> str:
    if created:
        return f"started run [bold]{doc['run_id']}[/]"
    return (
        f"[yellow]run [bold]{doc['run_id']}[/] already exists[/] (started {doc.get('created_at')}, "
        f"{doc.get('state')}); showing it"
    )


@app.command()
def run(  # noqa: PLR0917 - typer options
    flow: Annotated[str, typer.Argument(help="The flow to start.")],
    param: Annotated[
        list[str] | None, typer.Option("-p", "--param", help="A flow parameter: name=value.")
    ] = None,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Makes the start idempotent.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Stream progress until the run ends.")] = False,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
) -> None:
    """Start a flow run and print its id (with --wait, follow it; exit 1 if it fails).

    With --run-id of a run that exists, nothing starts: it says so and shows that run."""
    c = client(url)
    try:
        doc, created = c.start_run_created(flow, params=parse_pairs(param, "-p"), run_id=run_id)
        if as_json and not wait:
            typer.echo(json.dumps(doc, indent=2))
            return
        if not created:
            err.print(started_line(doc, created), highlight=False)
            if not wait:
                show_status(c, doc)
                raise typer.Exit(exit_code(doc) if doc.get("state") in FINAL_RUN_STATES else EXIT_OK)
        elif not wait:
            typer.echo(doc["run_id"])
            return
        elif not as_json:
            out.print(started_line(doc, created), highlight=False)
        final = follow(c, doc["run_id"], as_json=as_json)
    except LakehookClientError as exc:
        raise fail(exc) from None
    if as_json:
        typer.echo(json.dumps(final, indent=2))
    raise typer.Exit(exit_code(final))


@app.command()
def status(
    run_id: Annotated[str, typer.Argument(help="The run id.")],
    watch: Annotated[bool, typer.Option("--watch", help="Keep showing it until it ends.")] = False,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
) -> None:
    """Show a run: every task's state, attempt, timing, promise id and value; what waits for
    approval (with the command that gives it); why a task failed and where its log is."""
    c = client(url)
    try:
        if watch:
            doc = follow(c, run_id, as_json=as_json)
        else:
            doc = c.get_run(run_id)
            if not as_json:
                show_status(c, doc)
    except LakehookClientError as exc:
        raise fail(exc) from None
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
    raise typer.Exit(exit_code(doc) if doc.get("state") in FINAL_RUN_STATES else EXIT_OK)


@app.command()
def resolve(
    promise_id: Annotated[str, typer.Argument(help="The promise (a task attempt's id, shown by status).")],
    value: Annotated[str | None, typer.Option("--value", help="The value, as JSON.")] = None,
    url: UrlOpt = None,
) -> None:
    """Resolve a promise as an operator: a human who knows the answer, or an approval."""
    try:
        parsed = None if value is None else json.loads(value)
    except json.JSONDecodeError as exc:
        err.print(f"[red]--value is not JSON:[/] {exc.msg}; quote strings, e.g. --value '\"ok\"'")
        raise typer.Exit(EXIT_USAGE) from None
    try:
        doc = client(url).resolve(promise_id, parsed)
    except LakehookClientError as exc:
        raise fail(exc) from None
    out.print(f"[green]✓[/] {doc['id']} is {doc['state']}", highlight=False)


@app.command()
def reject(
    promise_id: Annotated[str, typer.Argument(help="The promise to reject.")],
    error: Annotated[str, typer.Option("--error", help="Why.")] = "rejected by an operator",
    url: UrlOpt = None,
) -> None:
    """Reject a promise as an operator; the task fails (and retries, if it has retries left)."""
    try:
        doc = client(url).reject(promise_id, error)
    except LakehookClientError as exc:
        raise fail(exc) from None
    out.print(f"[yellow]✗[/] {doc['id']} is {doc['state']}", highlight=False)


@app.command()
def cancel(
    run_id: Annotated[str, typer.Argument(help="The run to cancel.")],
    url: UrlOpt = None,
) -> None:
    """Cancel a run: running Databricks runs are canceled and nothing new starts."""
    try:
        doc = client(url).cancel_run(run_id)
    except LakehookClientError as exc:
        raise fail(exc) from None
    out.print(f"run {doc['run_id']} is {doc['state']}", highlight=False)
