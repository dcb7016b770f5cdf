"""``lakehook repair``: rerun what did not succeed in a run that ended, as Databricks' "Repair run".

The command reads the run's ``latest_repair_id`` from its document and sends it back, so a user
never types it; a repair that started in between (someone else's) makes the request a 409, and
nothing is repaired twice.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from lambda_resolver.cli.app import app
from lambda_resolver.cli.bundle_cmds import parse_pairs
from lambda_resolver.cli.remote import UrlOpt, client, fail, out
from lambda_resolver.cli.run_cmds import JsonOpt, exit_code, follow
from lambda_resolver.client import LakehookClientError


@app.command()
def repair(
    run_id: Annotated[str, typer.Argument(help="The run to repair (it must have ended).")],
    *,
    task: Annotated[
        list[str] | None,
        typer.Option(
            "--task", help="A task to rerun (repeatable). Default: every task that did not succeed."
        ),
    ] = None,
    all_failed: Annotated[
        bool, typer.Option("--all-failed", help="Rerun every task that did not succeed.")
    ] = False,
    dependents: Annotated[
        bool,
        typer.Option("--dependents", help="Rerun the dependents of the rerun tasks even if they succeeded."),
    ] = False,
    param: Annotated[
        list[str] | None, typer.Option("-p", "--param", help="A flow parameter for the rerun: name=value.")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the run until it ends; exit 1 if it fails.")
    ] = False,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
) -> None:
    """Repair a run that ended: its tasks that did not succeed (or --task) start again in the same
    run, with new attempts; tasks that succeeded keep their values."""
    c = client(url)
    params = parse_pairs(param, "-p")
    try:
        before = c.get_run(run_id)
        doc = c.repair_run(
            run_id,
            rerun_tasks=task or None,
            rerun_all_failed_tasks=all_failed,
            rerun_dependent_tasks=dependents,
            latest_repair_id=before.get("latest_repair_id"),
            params=params,
        )
        if not as_json:
            was = {t["task_key"]: (t["state"], t["attempt"]) for t in before.get("tasks", [])}
            rerun = [
                t["task_key"]
                for t in doc.get("tasks", [])
                if was.get(t["task_key"]) != (t["state"], t["attempt"])
            ]
            out.print(
                f"repair [bold]{doc.get('latest_repair_id')}[/] of run [bold]{run_id}[/]: "
                f"rerunning {', '.join(rerun) or 'nothing'}"
            )
        if not wait:
            if as_json:
                typer.echo(json.dumps(doc, indent=2))
            return
        final = follow(c, run_id, as_json=as_json)
    except LakehookClientError as exc:
        raise fail(exc) from None
    if as_json:
        typer.echo(json.dumps(final, indent=2))
    raise typer.Exit(exit_code(final))
