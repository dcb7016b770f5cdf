"""The local stack's commands: ``lakehook dev`` and ``lakehook demo``."""

from __future__ import annotations

import datetime as dt
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from lambda_resolver.cli.app import EXIT_USAGE, app
from lambda_resolver.cli.bundle_cmds import BundleOpt, TargetOpt, VarOpt, parse_vars, print_problems
from lambda_resolver.cli.render import summary_table
from lambda_resolver.cli.run_cmds import exit_code, follow
from lambda_resolver.core.errors import CompileError

out = Console()
err = Console(stderr=True)

DEMO_LIMIT_S = 120  # the demo gives up watching a run after this long

_EVENT_LINES = {
    "task_triggered": "[cyan]▶[/] {run_id} [bold]{task_key}[/] started (Databricks run {databricks_run_id})",
    "task_finished": "{mark} {run_id} [bold]{task_key}[/] {state} (attempt {attempt})",
    "run_finished": "[bold]■ run {run_id}[/] of {flow}: {state}",
    "flows_published": "[green]↻[/] bundle changed: published {flows}",
    "schedule_fired": "[magenta]⏱[/] {run_id} started by its schedule ({skipped} slots skipped)",
    "schedule_skipped": "[yellow]⏱[/] {run_id} skipped: {flow} is at max_concurrent_runs (no queue)",
    "schedule_switched": "[magenta]⏱[/] schedule of {flow}: active={active}",
}


class _Fields(dict[str, Any]):
    """Event fields for a line's placeholders; one the event lacks prints as None."""

    def __missing__(self, key: str) -> None:
        return None


def _print_event(name: str, fields: dict[str, Any]) -> None:
    line = _EVENT_LINES.get(name)
    if line is None:
        return
    mark = "[green]✓[/]" if fields.get("state") == "SUCCESS" else "[yellow]•[/]"
    out.print(line.format_map(_Fields(fields, mark=mark)), highlight=False)


def _start(stack: Any) -> None:
    try:
        stack.start()
    except CompileError as exc:
        print_problems(exc.problems)
        stack.stop()
        raise typer.Exit(EXIT_USAGE) from None
    except OSError as exc:
        err.print(
            f"[red]cannot start: {exc}[/] — is another `lakehook dev` using port {stack.port}? (--port)"
        )
        stack.stop()
        raise typer.Exit(EXIT_USAGE) from None


@app.command()
def dev(  # noqa: PLR0917 - typer options
    bundle: BundleOpt = Path("."),
    state_dir: Annotated[
        Path | None, typer.Option("--state-dir", help="Where state lives (default: BUNDLE/.lakehook).")
    ] = None,
    port: Annotated[int, typer.Option("--port", help="The resolver's port on 127.0.0.1.")] = 8765,
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

    Publishes the bundle's flows at start and again when its files change. Ctrl-C stops it;
    state in .lakehook/ survives restarts.
    """
    from lambda_resolver.local.stack import LocalStack

    stack = LocalStack(
        bundle,
        state_dir,
        port=port,
        target=target,
        variables=parse_vars(var),
        resonate_compat=resonate_compat,
        on_event=_print_event,
    )
    _start(stack)
    flows = ", ".join(f"{f.name} v{f.version}" for f in stack.store.list_flows()) or "none"
    out.print(f"[bold green]lakehook dev[/] resolver at [bold]{stack.url}[/]  (flows: {flows})")
    out.print(
        f"  local workspace {stack.workspace.url} · state {stack.state_dir} · Ctrl-C to stop", style="dim"
    )
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    stopping.wait()
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
    """Run the sample flow end to end on a fresh local stack, with live progress. No cloud needed."""
    from lambda_resolver.client import LakehookClient
    from lambda_resolver.local.stack import LocalStack

    started = time.monotonic()
    state = Path(tempfile.mkdtemp(prefix="lakehook-demo-"))
    stack = LocalStack(bundle, state, port=0)
    with out.status("starting the resolver and a local workspace…"):
        _start(stack)
    try:
        client = LakehookClient(stack.url)
        out.print(
            f"resolver [bold]{stack.url}[/] · local workspace {stack.workspace.url} "
            f"[dim]({time.monotonic() - started:.1f}s)[/]"
        )
        run = client.start_run(flow, params={"run_date": dt.date.today().isoformat()}, run_id=None)
        remaining = DEMO_LIMIT_S - (time.monotonic() - started)
        doc = follow(client, run["run_id"], as_json=False, poll_s=0.1, timeout_s=remaining)
        out.print(summary_table(doc))
        values = {t["task_key"]: t["value"] for t in doc["tasks"] if t.get("value") is not None}
        out.print("values passed downstream:", values)
        out.print(
            f"[bold]{doc['state']}[/] in {time.monotonic() - started:.1f}s · files and logs in {state}"
            if keep
            else f"[bold]{doc['state']}[/] in {time.monotonic() - started:.1f}s"
        )
    finally:
        stack.stop()
        if not keep:
            import shutil

            shutil.rmtree(state, ignore_errors=True)
    raise typer.Exit(exit_code(doc))
