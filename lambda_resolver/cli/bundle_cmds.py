"""Offline commands on the bundle: ``validate`` and ``graph``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from lambda_resolver.cli.app import EXIT_USAGE, app
from lambda_resolver.core.errors import CompileError, Problem

BundleOpt = Annotated[Path, typer.Option("--bundle", "-b", help="The bundle root (where databricks.yml is).")]
TargetOpt = Annotated[
    str | None, typer.Option("--target", "-t", help="The bundle target (default: its default).")
]
VarOpt = Annotated[list[str] | None, typer.Option("--var", help="Override a bundle variable: name=value.")]

err = Console(stderr=True)
out = Console()


def parse_pairs(pairs: list[str] | None, option: str) -> dict[str, str]:
    """``name=value`` options (``--var``, ``-p``) as a dict; a malformed one exits 2 saying how."""
    result: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            err.print(f"[red]{option} {escape(pair)}: write name=value[/]", highlight=False)
            raise typer.Exit(EXIT_USAGE)
        result[name] = value
    return result


def parse_vars(pairs: list[str] | None) -> dict[str, str]:
    return parse_pairs(pairs, "--var")


def _print_one(p: Problem) -> None:
    where = p.file or "<bundle>"
    if p.line:
        where += f":{p.line}"
    scope = " ".join(x for x in (f"job {p.job}" if p.job else "", f"task {p.task}" if p.task else "") if x)
    tag = "[yellow]warning[/] " if p.is_warning else ""
    err.print(
        f"  {tag}[bold]{escape(where)}[/] {escape(scope)} [dim]\\[{p.code}][/]\n    {escape(p.message)}",
        highlight=False,
    )


def print_problems(problems: list[Problem]) -> None:
    """Errors, then warnings, each with its file, line, job, task and code (on stderr)."""
    errors = [p for p in problems if not p.is_warning]
    warnings = [p for p in problems if p.is_warning]
    if errors:
        err.print(f"[red bold]{len(errors)} problem(s)[/] in the bundle:")
        for p in errors:
            _print_one(p)
    if warnings:
        err.print(
            f"[yellow bold]{len(warnings)} warning(s)[/] (the Databricks CLI warns about these too; "
            f"--strict makes them fail):"
        )
        for p in warnings:
            _print_one(p)


@app.command()
def validate(
    bundle: BundleOpt = Path("."),
    target: TargetOpt = None,
    var: VarOpt = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print every problem as JSON (severity, code, file, line, job, task)."),
    ] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Warnings fail too (exit 2), as `databricks bundle validate --strict`."
        ),
    ] = False,
) -> None:
    """Check the whole bundle offline: job resources and lakehook's flow rules. Every problem at once.

    Errors exit 2; warnings (what the Databricks CLI only warns about) print but pass, unless --strict.
    """
    from lambda_resolver.compiler import diagnose_bundle, load_bundle

    loaded = load_bundle(bundle, target, parse_vars(var), strict=False)
    report = diagnose_bundle(loaded)
    failed = bool(report.errors) or (strict and bool(report.warnings))
    if as_json:
        doc = {
            "bundle": loaded.name,
            "target": loaded.target,
            "valid": not failed,
            "errors": len(report.errors),
            "warnings": len(report.warnings),
            "flows": {n: len(m.tasks) for n, m in sorted(report.flows.items())} if not report.errors else {},
            "problems": [p.to_dict() for p in report.problems],
        }
        typer.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        if failed:
            raise typer.Exit(EXIT_USAGE)
        return
    print_problems(report.problems)
    if report.errors:
        raise typer.Exit(EXIT_USAGE)
    if failed:
        err.print(f"[red]--strict: {len(report.warnings)} warning(s) fail validation[/]")
        raise typer.Exit(EXIT_USAGE)
    names = ", ".join(f"{n} ({len(m.tasks)} tasks)" for n, m in sorted(report.flows.items())) or "no flows"
    suffix = f" ({len(report.warnings)} warning(s))" if report.warnings else ""
    out.print(f"[green]✓[/] bundle is valid{suffix}: {names}")


@app.command()
def graph(  # noqa: PLR0917 - typer options
    flow: Annotated[str, typer.Argument(help="The flow (its job key in the bundle).")],
    bundle: BundleOpt = Path("."),
    target: TargetOpt = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write a picture: a .svg or .png path (needs Graphviz)."),
    ] = None,
    run: Annotated[str | None, typer.Option("--run", help="Colour tasks by the states of this run.")] = None,
    url: Annotated[
        str | None,
        typer.Option("--url", envvar="LAKEHOOK_URL", help="The resolver that has --run (default: local)."),
    ] = None,
) -> None:
    """Print the flow's DAG as Mermaid text, or draw it (with task states, given --run)."""
    from lambda_resolver.cli.graph import mermaid, render
    from lambda_resolver.compiler import compile_bundle

    try:
        flows = compile_bundle(bundle, target)
    except CompileError as exc:
        print_problems(exc.problems)
        raise typer.Exit(EXIT_USAGE) from None
    if flow not in flows:
        known = ", ".join(sorted(flows)) or "none"
        err.print(f"[red]no flow '{flow}' in the bundle[/] (flows: {known}); tag a job `lakehook: flow`")
        raise typer.Exit(EXIT_USAGE)
    states: dict[str, str] = {}
    if run is not None:
        from lambda_resolver.cli.remote import client, fail
        from lambda_resolver.client import LakehookClientError

        try:
            doc = client(url).get_run(run)
        except LakehookClientError as exc:
            raise fail(exc) from None
        if doc.get("flow") != flow:
            other = escape(str(doc.get("flow")))
            err.print(
                f"[red]run {escape(run)} is a run of flow '{other}', not '{escape(flow)}'[/]"
                f"; draw it with: lakehook graph {other} --run {escape(run)}",
                highlight=False,
            )
            raise typer.Exit(EXIT_USAGE)
        states = {t["task_key"]: t["state"] for t in doc.get("tasks", [])}
    manifest = flows[flow]
    if output is None:
        typer.echo(mermaid(manifest, states), nl=False)
        return
    try:
        render(manifest, output, states)
    except (RuntimeError, ValueError) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(EXIT_USAGE) from None
    out.print(f"[green]✓[/] wrote {output}")
