"""The local stack's commands: ``lakehook dev`` and ``lakehook demo``.

Ctrl-C (SIGINT) and SIGTERM do the same in both: stop the notebooks' processes, the servers and
the store, release the state directory; ``demo`` then removes its state directory (unless
``--keep``) and exits 130 (SIGINT) or 143 (SIGTERM), as a shell reports a signal's death.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from lambda_resolver.cli.app import EXIT_RUN_FAILED, EXIT_USAGE, app
from lambda_resolver.cli.bundle_cmds import BundleOpt, TargetOpt, VarOpt, parse_vars, print_problems
from lambda_resolver.cli.remote import APPROVAL_VALUE, fail
from lambda_resolver.cli.render import show_value, summary_table
from lambda_resolver.cli.run_cmds import exit_code, follow
from lambda_resolver.client import DEFAULT_URL, FINAL_RUN_STATES, LakehookClientError
from lambda_resolver.core.errors import CompileError

out = Console()
err = Console(stderr=True)

DEMO_LIMIT_S = 120  # the demo gives up watching a run after this long (time waiting for approval aside)
DEFAULT_PORT = 8765


def _event_line(name: str, f: dict[str, Any], url_flag: str = "") -> str | None:
    """One line of ``lakehook dev``'s output for an engine event (rich markup), or None."""
    run, key = escape(str(f.get("run_id"))), escape(str(f.get("task_key")))
    if name == "task_triggered":
        return f"[cyan]▶[/] {run} [bold]{key}[/] started (Databricks run {f.get('databricks_run_id')})"
    if name == "task_claimed" and f.get("external"):
        line = f"lakehook resolve {f.get('promise_id')} --value {shlex.quote(APPROVAL_VALUE)}{url_flag}"
        return f"[yellow]?[/] {run} [bold]{key}[/] waits for approval: {escape(line)}"
    if name == "task_finished":
        state = str(f.get("state"))
        mark = (
            "[green]✓[/]"
            if state == "SUCCESS"
            else "[red]✗[/]"
            if state in ("FAILED", "TIMEDOUT")
            else "[yellow]•[/]"
        )
        line = f"{mark} {run} [bold]{key}[/] {state} (attempt {f.get('attempt')})"
        if f.get("error"):
            line += f": [red]{escape(' '.join(str(f['error']).split()))}[/]"
        return line
    if name == "run_finished":
        return f"[bold]■ run {run}[/] of {escape(str(f.get('flow')))}: {f.get('state')}"
    if name == "flows_published":
        flows = ", ".join(f"{n} v{v}" for n, v in dict(f.get("flows") or {}).items())
        return f"[green]↻[/] bundle changed: published {escape(flows)}"
    if name == "schedule_fired":
        return f"[magenta]⏱[/] {run} started by its schedule ({f.get('skipped')} slots skipped)"
    if name == "schedule_skipped":
        flow = escape(str(f.get("flow")))
        return f"[yellow]⏱[/] {run} skipped: {flow} is at max_concurrent_runs (no queue)"
    if name == "schedule_switched":
        return f"[magenta]⏱[/] schedule of {escape(str(f.get('flow')))}: active={f.get('active')}"
    return None


class _EventPrinter:
    """Prints engine events as ``lakehook dev``'s output lines; ``url_flag`` is set once bound."""

    def __init__(self) -> None:
        self.url_flag = ""

    def __call__(self, name: str, fields: dict[str, Any]) -> None:
        line = _event_line(name, fields, self.url_flag)
        if line is not None:
            if name == "task_claimed":  # a ready-to-paste command is never cut
                out.print(line, highlight=False, soft_wrap=True)
            else:
                out.print(line, highlight=False, no_wrap=True, overflow="ellipsis")


def _start(stack: Any) -> None:
    """Start the stack, or exit 2 saying why (the stack leaves no files behind it created)."""
    from lambda_resolver.local.state_dir import StateDirBusy

    try:
        stack.start()
    except CompileError as exc:
        print_problems(exc.problems)
        raise typer.Exit(EXIT_USAGE) from None
    except StateDirBusy as exc:
        err.print(f"[red]cannot start: {escape(str(exc))}[/]", highlight=False)
        raise typer.Exit(EXIT_USAGE) from None
    except OSError as exc:
        err.print(
            f"[red]cannot start: {escape(str(exc))}[/] — is another `lakehook dev` using port "
            f"{stack.port}? (--port)",
            highlight=False,
        )
        raise typer.Exit(EXIT_USAGE) from None


class _Signals:
    """SIGINT and SIGTERM set an event instead of raising where they land; ``number`` says which."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.number = 0
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def received(self) -> int:
        """The signal that arrived (0: none yet)."""
        return self.number

    def _handle(self, signum: int, _frame: object) -> None:
        self.number = signum
        self.event.set()


@app.command()
def dev(  # noqa: PLR0917 - typer options
    bundle: BundleOpt = Path("."),
    state_dir: Annotated[
        Path | None, typer.Option("--state-dir", help="Where state lives (default: BUNDLE/.lakehook).")
    ] = None,
    port: Annotated[int, typer.Option("--port", help="The resolver's port on 127.0.0.1.")] = DEFAULT_PORT,
    target: TargetOpt = None,
    var: VarOpt = None,
    resonate_compat: Annotated[
        bool,
        typer.Option(
            "--resonate-compat", help="Serve POST /resolve?id=..&value=.. (no token: loopback only)."
        ),
    ] = False,
) -> None:
    """Run the resolver, the SQLite store, the reconciler and a local workspace on 127.0.0.1.

    Publishes the bundle's flows at start and again when its files change. One `lakehook dev` a
    state directory. Ctrl-C (or SIGTERM) stops it: running notebooks are stopped and picked up
    again on the next start; state in .lakehook/ survives restarts.
    """
    from lambda_resolver.local.stack import LocalStack

    printer = _EventPrinter()
    stack = LocalStack(
        bundle,
        state_dir,
        port=port,
        target=target,
        variables=parse_vars(var),
        resonate_compat=resonate_compat,
        on_event=printer,
        explain_events=True,
    )
    signals = _Signals()
    _start(stack)
    flows = ", ".join(f"{f.name} v{f.version}" for f in stack.store.list_flows()) or "none"
    out.print(f"[bold green]lakehook dev[/] resolver at [bold]{stack.url}[/]  (flows: {escape(flows)})")
    if stack.url != (os.environ.get("LAKEHOOK_URL") or DEFAULT_URL).rstrip("/"):
        printer.url_flag = f" --url {stack.url}"
        out.print("  other commands find it with (or pass --url):", style="dim")
        out.print(f"  export LAKEHOOK_URL={stack.url}", highlight=False, soft_wrap=True)
    out.print(f"  console {stack.url}/console/", highlight=False, soft_wrap=True)
    out.print(
        f"  local workspace {stack.workspace.url} · state {stack.state_dir} · Ctrl-C to stop",
        style="dim",
        highlight=False,
    )
    signals.event.wait()
    out.print("stopping…", style="dim")
    stack.stop()


@app.command()
def demo(
    bundle: BundleOpt = Path("."),
    flow: Annotated[str, typer.Option("--flow", help="The flow to run.")] = "nightly",
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the demo's state directory (logs, files).")
    ] = False,
) -> None:
    """Run the sample flow end to end on a fresh local stack, with live progress. No cloud needed.

    An approval gate (ml_pipeline's `approve`) prints the `lakehook resolve` line to run from
    another shell, and the demo waits for it. Ctrl-C or SIGTERM stops the demo and cleans up.
    """
    from lambda_resolver.client import LakehookClient
    from lambda_resolver.local.stack import LocalStack

    started = time.monotonic()
    state = Path(tempfile.mkdtemp(prefix="lakehook-demo-"))
    stack = LocalStack(bundle, state, port=0)
    signals = _Signals()
    try:
        with out.status("starting the resolver and a local workspace…"):
            _start(stack)
        if signals.received():  # stopped while starting: start no run
            raise typer.Exit(128 + signals.received())
        try:
            doc = _demo_run(LakehookClient(stack.url), stack, flow, started, signals)
        except LakehookClientError as exc:
            raise fail(exc) from None
        if signals.received():
            err.print("interrupted: stopping the local stack and cleaning up", highlight=False)
            raise typer.Exit(128 + signals.received())
        out.print(summary_table(doc, width=out.width))
        values = {t["task_key"]: t["value"] for t in doc["tasks"] if t.get("value") is not None}
        out.print("values passed downstream:")
        for key, value in values.items():
            out.print(
                f"  [bold]{escape(key)}[/] {escape(show_value(value))}",
                highlight=False,
                no_wrap=True,
                overflow="ellipsis",
            )
        took = f"[bold]{doc['state']}[/] in {time.monotonic() - started:.1f}s"
        out.print(f"{took} · files and logs in {state}" if keep else took, highlight=False)
    finally:
        stack.stop()
        if not keep:
            shutil.rmtree(state, ignore_errors=True)
    if doc.get("state") not in FINAL_RUN_STATES:
        err.print(
            f"the run did not finish within {DEMO_LIMIT_S} s; it was {doc.get('state')}", highlight=False
        )
        raise typer.Exit(EXIT_RUN_FAILED)
    raise typer.Exit(exit_code(doc))


def _demo_run(client: Any, stack: Any, flow: str, started: float, signals: _Signals) -> dict[str, Any]:
    out.print(
        f"resolver [bold]{stack.url}[/] · local workspace {stack.workspace.url} "
        f"[dim]({time.monotonic() - started:.1f}s)[/]",
        highlight=False,
    )
    declared = {p["name"] for p in client.get_flow(flow).get("parameters", [])}
    params = {"run_date": dt.date.today().isoformat()} if "run_date" in declared else {}
    run = client.start_run(flow, params=params, run_id=None)
    budget = {"left": float(DEMO_LIMIT_S) - (time.monotonic() - started), "at": time.monotonic()}
    told: set[str] = set()

    def stop(doc: dict[str, Any], hints: dict[str, str]) -> bool:
        now = time.monotonic()
        if not hints:  # time spent waiting for an operator does not count against the limit
            budget["left"] -= now - budget["at"]
        budget["at"] = now
        for key in hints:
            if key not in told:
                told.add(key)
                out.print(
                    f"  the demo waits for that approval (run the line above in another shell); "
                    f"Ctrl-C stops the demo and cleans up. To see the run: lakehook status {doc['run_id']} "
                    f"--url {stack.url}",
                    style="dim",
                    highlight=False,
                    soft_wrap=True,
                )
        return signals.event.is_set() or budget["left"] <= 0

    return follow(client, run["run_id"], as_json=False, poll_s=0.1, stop=stop)
