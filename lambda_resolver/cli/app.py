"""The typer application: every command registers here."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup
from typer.models import CommandFunctionType


def _plain_metavars(command: Any) -> None:
    """Help that reads as a command line: a flag shows no value (``--wait``, not ``--wait <bool>``),
    a value shows its name (``--url URL``, ``FLOW``), never a Python type (``<str>``, ``{flow}``)."""
    for param in command.params:
        if param.metavar is not None:
            continue
        if getattr(param, "is_flag", False):
            param.metavar = ""
        else:
            name = str(param.name or "value").upper()
            param.metavar = name + ("..." if isinstance(param, TyperArgument) and param.nargs != 1 else "")
        if type(param) is TyperArgument:
            param.__class__ = _NamedArgument  # its name says what it is; no type column


class _NamedArgument(TyperArgument):
    """An argument shown by its name alone (``FLOW``), without a ``<str>`` type column."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def _usage_display_name(self) -> str:
        name = self.display_name_raw
        return name if self.required else f"[{name}]"


class _Command(TyperCommand):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _plain_metavars(self)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option


class _Group(TyperGroup):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _plain_metavars(self)

    def get_params(self, ctx: Any) -> Any:
        _plain_metavars(self)  # typer appends --install-completion and --show-completion later
        return super().get_params(ctx)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option


class _Typer(typer.Typer):
    """Every command gets plain help (see :func:`_plain_metavars`)."""

    def command(
        self, *args: Any, cls: type[TyperCommand] | None = None, **kwargs: Any
    ) -> Callable[[CommandFunctionType], CommandFunctionType]:
        return super().command(*args, cls=cls or _Command, **kwargs)


app = _Typer(
    cls=_Group,
    name="lakehook",
    help="Callbacks instead of polling for Databricks jobs: run flows of bundle jobs, settle promises.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports it (128 + SIGINT)


def _print_version(value: bool) -> None:
    if value:
        from lambda_resolver import __version__

        typer.echo(f"lakehook {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print lakehook's version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Callbacks instead of polling for Databricks jobs: run flows of bundle jobs, settle promises."""


def main() -> None:
    """Console entry point (``lakehook``)."""
    from lambda_resolver.cli import (  # noqa: F401 - they register commands
        bundle_cmds,
        console_cmd,
        history_cmds,
        local_cmds,
        logs_cmd,
        publish_cmd,
        repair_cmd,
        run_cmds,
        schedule_cmds,
    )

    sys.exit(app())
