"""Shared by the console's browser tests and the suite's CI hook: the skip reason, a recording page."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

SKIP_PREFIX = "Console browser"


@dataclass
class Recorded:
    """A page and what it did: every request URL, page errors and console errors."""

    page: Any
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        """Every request went to loopback, and the page raised or logged no error."""
        hosts = {urlsplit(u).hostname for u in self.requests if not u.startswith(("data:", "about:"))}
        assert self.requests, "the page made no request"
        assert hosts <= {"127.0.0.1", "localhost"}, f"requests left loopback: {sorted(hosts)}"
        assert not self.errors, self.errors
