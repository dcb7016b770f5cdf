"""The typer application: every command registers here."""

from __future__ import annotations

import sys

import typer

app = typer.Typer(
    name="lakehook",
    help="Callbacks instead of polling for Databricks jobs: run flows of bundle jobs, settle promises.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE = 0, 1, 2


def main() -> None:
    """Console entry point (``lakehook``)."""
    from lambda_resolver.cli import (  # noqa: F401 - they register commands
        bundle_cmds,
        history_cmds,
        local_cmds,
        publish_cmd,
        run_cmds,
        schedule_cmds,
    )

    sys.exit(app())
