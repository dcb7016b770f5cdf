"""Run history: pages of runs, newest first, and the cursors that continue them.

A cursor is where the last page ended — the last run's creation time and id — as an opaque
string: stores list the runs strictly older than that position (ties broken by run id), so a
page never repeats or skips a run however many runs start meanwhile.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from lambda_resolver.core.errors import BadRequest
from lambda_resolver.core.models import Run

Position = tuple[int, str]  # (created_at ms, run_id): a page's runs are all older than this

_POSITION = re.compile(r"(\d{1,15})#([A-Za-z0-9._:-]{1,128})")


@dataclass(frozen=True)
class RunPage:
    """One page of runs, newest first; ``next_cursor`` is None on the last page."""

    runs: list[Run]
    next_cursor: str | None


def cursor_of(run: Run) -> str:
    """The cursor that continues after ``run``."""
    raw = f"{run.created_at}#{run.run_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def position_of(cursor: str) -> Position:
    """The position a cursor stands for; BadRequest if it is not one this resolver gave out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    m = _POSITION.fullmatch(raw)
    if m is None:
        raise BadRequest("cursor is not one this resolver gave out: pass next_cursor from the previous page")
    return int(m.group(1)), m.group(2)


def page(runs: list[Run], limit: int) -> RunPage:
    """A page from up to ``limit + 1`` runs a store listed (the extra one says there is more)."""
    if len(runs) <= limit:
        return RunPage(runs, None)
    kept = runs[:limit]
    return RunPage(kept, cursor_of(kept[-1]))
