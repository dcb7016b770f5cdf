"""``lakehook publish -t TARGET``: store the bundle's flows in the resolver with their deployed job ids.

Run it after ``databricks bundle deploy -t TARGET``. Job ids come from ``--summary`` (the JSON of
``databricks bundle summary -t TARGET --output json``, a file or ``-`` for stdin), or else from
the workspace (databricks-sdk unified auth), by the names the jobs were deployed under. The
resolver is ``LAKEHOOK_URL`` (+ ``LAKEHOOK_OPERATOR_KEY``), or ``--lambda`` for a direct,
IAM-authorised invoke. The logic is in :mod:`lambda_resolver.publish`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from lambda_resolver.cli.app import EXIT_USAGE, app
from lambda_resolver.cli.bundle_cmds import BundleOpt, VarOpt, parse_vars, print_problems

if TYPE_CHECKING:
    from lambda_resolver.compiler import Bundle
    from lambda_resolver.publish import IdSource, JobIds

out = Console()
err = Console(stderr=True)


@app.command()
def publish(  # noqa: PLR0917 - typer options
    target: Annotated[
        str, typer.Option("--target", "-t", help="The bundle target that was deployed (e.g. dev, prod).")
    ],
    bundle: BundleOpt = Path("."),
    var: VarOpt = None,
    summary: Annotated[
        str | None,
        typer.Option(
            "--summary",
            help="The output of `databricks bundle summary -t TARGET --output json`: a file, or - for "
            "stdin. Without it, jobs are looked up in the workspace by their deployed names.",
        ),
    ] = None,
    lambda_function: Annotated[
        str | None,
        typer.Option(
            "--lambda",
            help="Publish by invoking this resolver function directly (its FunctionArn output, or name) "
            "with your AWS credentials (IAM), instead of LAKEHOOK_URL.",
        ),
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", help="The workspace to look jobs up in (else unified auth).")
    ] = None,
    profile: Annotated[
        str | None, typer.Option("--profile", "-p", help="A ~/.databrickscfg profile for the lookup.")
    ] = None,
    dev_user: Annotated[
        str | None,
        typer.Option(
            "--dev-user",
            help="The short user name in the '\\[dev <user>] ' name prefix of mode: development (else the "
            "workspace's current user).",
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            envvar="LAKEHOOK_URL",
            help="The resolver to publish to (else LAKEHOOK_URL; not with --lambda).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; publish nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Publish the bundle's flows to the resolver with the job ids of the TARGET deployment."""
    from lambda_resolver.publish import (
        HttpResolver,
        LambdaResolver,
        PublishError,
        Resolver,
        publish_bundle,
        read_summary,
        summary_source,
    )

    variables = parse_vars(var)
    from lambda_resolver.client import LakehookClient

    resolver: Resolver = (
        LambdaResolver(lambda_function) if lambda_function else HttpResolver(LakehookClient(url))
    )
    try:
        source: IdSource
        if summary is not None:
            origin = "the bundle summary on stdin" if summary == "-" else f"the bundle summary {summary}"
            source = summary_source(read_summary(_read(summary), origin), target=target, origin=origin)
        else:
            source = _workspace_source(host, profile, dev_user)
        report = publish_bundle(
            bundle, target, job_ids=source, resolver=resolver, variables=variables, dry_run=dry_run
        )
    except PublishError as exc:
        if exc.problems:
            print_problems(exc.problems)
        err.print(f"[red]{escape(exc.message)}[/]", highlight=False)
        raise typer.Exit(EXIT_USAGE) from None
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    out.print(escape(f"job ids: from {report.ids.detail} (target {target})"), highlight=False)
    dry = "  [yellow](dry run)[/]" if dry_run else ""
    out.print(escape(f"resolver: {report.resolver}") + dry, highlight=False)
    for change in report.flows:
        colour = "dim" if change.status == "unchanged" else "green"
        out.print(f"[{colour}]{escape(change.line(dry_run=dry_run))}[/]", highlight=False)
    if report.elsewhere:
        out.print(
            "[dim]on the resolver but not in the bundle (left as they are): "
            f"{escape(', '.join(report.elsewhere))}[/]",
            highlight=False,
        )


def _read(summary: str) -> str:
    from lambda_resolver.publish import PublishError

    if summary == "-":
        return sys.stdin.read()
    try:
        return Path(summary).read_text(encoding="utf-8")
    except OSError as exc:
        raise PublishError(f"cannot read --summary {summary}: {exc.strerror or exc}") from None


def _workspace_source(host: str | None, profile: str | None, dev_user: str | None) -> IdSource:
    from lambda_resolver.publish import SdkWorkspace, bundle_workspace, ids_from_workspace

    def source(bundle: Bundle, keys: list[str]) -> JobIds:
        bundle_host, bundle_profile = bundle_workspace(bundle)
        workspace = SdkWorkspace(host=host or bundle_host, profile=profile or bundle_profile)
        return ids_from_workspace(bundle, keys, workspace, dev_user=dev_user)

    return source
