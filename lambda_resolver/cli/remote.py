"""What every command that talks to a resolver shares: ``--url``, the client, error exits,
and the reading of a run for a person (which tasks wait for approval, how to settle them)."""

from __future__ import annotations

import os
import shlex
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from lambda_resolver.cli.app import EXIT_USAGE
from lambda_resolver.client import DEFAULT_URL, LakehookClient, LakehookClientError

out = Console()
err = Console(stderr=True)

UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="LAKEHOOK_URL",
        show_envvar=True,
        help=f"The resolver (default {DEFAULT_URL}, where `lakehook dev` listens).",
    ),
]

#: The value a ready-to-paste approval line suggests; any JSON is accepted.
APPROVAL_VALUE = '{"approved_by": "' + (os.environ.get("USER") or "me") + '"}'


def client(url: str | None = None) -> LakehookClient:
    """The client for ``--url`` (else ``LAKEHOOK_URL``, else the local default)."""
    return LakehookClient(url)


def fail(exc: LakehookClientError) -> typer.Exit:
    """Print a refused request, or a resolver that cannot be reached, in one line (no traceback)
    and return the exit to raise: 2, never 1, which says the run failed."""
    where = "" if exc.status == 0 else f" [dim]({exc.status} {escape(exc.code)})[/]"
    err.print(f"[red]{escape(exc.message)}[/]{where}", highlight=False)
    return typer.Exit(EXIT_USAGE)


def url_flag(c: LakehookClient) -> str:
    """`` --url U`` when another command would not find this resolver on its own."""
    implicit = (os.environ.get("LAKEHOOK_URL") or DEFAULT_URL).rstrip("/")
    return "" if c.url == implicit else f" --url {c.url}"


def resolve_line(c: LakehookClient, promise_id: str) -> str:
    """The command that approves a waiting external task, ready to paste."""
    return f"lakehook resolve {promise_id} --value {shlex.quote(APPROVAL_VALUE)}{url_flag(c)}"


class FlowKinds:
    """Task kinds of published flow versions (``GET /v1/flows/{name}?version=``), read once each."""

    def __init__(self, c: LakehookClient) -> None:
        self._client = c
        self._kinds: dict[tuple[str, int], dict[str, str]] = {}

    def of(self, doc: dict[str, Any]) -> dict[str, str]:
        """Task key → kind (``job``, ``condition``, ``external``, ...) for the run ``doc``."""
        key = (str(doc.get("flow")), int(doc.get("flow_version") or 0))
        if key not in self._kinds:
            try:
                manifest = self._client.get_flow(key[0], key[1] or None)
            except LakehookClientError:
                return {}  # not cached: the next document asks again
            self._kinds[key] = {t["key"]: str(t.get("kind", "")) for t in manifest.get("tasks", [])}
        return self._kinds[key]

    def waiting(self, doc: dict[str, Any]) -> list[dict[str, Any]]:
        """The external tasks of ``doc`` that wait for an operator (approval gates)."""
        kinds = self.of(doc)
        return [
            t
            for t in doc.get("tasks", [])
            if kinds.get(t["task_key"]) == "external" and t["state"] == "RUNNING" and t.get("promise_id")
        ]
