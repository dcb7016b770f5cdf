"""The web console's static files, and the answers that serve them under ``/console/``.

Every asset ships in the wheel (``static/``) and the page loads nothing from another host (its
Content-Security-Policy says so too), so the console works offline. Served by ``lakehook dev``
(same origin as the API) and by ``lakehook console`` (which proxies the API to a deployed resolver).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

STATIC = Path(__file__).resolve().parent / "static"
PREFIX = "/console"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
# Only this origin: no CDN, no web font, no analytics; the API is called on the same origin.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def is_console_path(target: str) -> bool:
    """Whether a request target (path and query) belongs to the console rather than the API."""
    path = target.partition("?")[0]
    return path == PREFIX or path.startswith(PREFIX + "/")


def console_answer(method: str, target: str) -> dict[str, Any]:
    """The answer (Function URL response shape) for a console request: a file, a redirect, or an error.

    Only the files shipped in ``static/`` are served (by exact name: no path is joined from the
    request), GET and HEAD only.
    """
    path = target.partition("?")[0]
    if method not in ("GET", "HEAD"):
        return _answer(405, b"the console is read-only: GET it\n", "text/plain", {"Allow": "GET, HEAD"})
    if path == PREFIX:
        return _answer(308, b"", "text/plain", {"Location": PREFIX + "/"})
    name = path[len(PREFIX) + 1 :] or "index.html"
    if name not in shipped():
        return _answer(404, b"no such console file\n", "text/plain")
    data = (STATIC / name).read_bytes()
    return _answer(200, data, TYPES[Path(name).suffix], {"Content-Security-Policy": CSP})


def shipped() -> frozenset[str]:
    """The console's file names (flat: the static directory has no subdirectories)."""
    return frozenset(p.name for p in STATIC.iterdir() if p.is_file() and p.suffix in TYPES)


def _answer(
    status: int, data: bytes, content_type: str, extra: dict[str, str] | None = None
) -> dict[str, Any]:
    headers = {
        "Content-Type": content_type,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        **(extra or {}),
    }
    return {
        "statusCode": status,
        "headers": headers,
        "body": base64.b64encode(data).decode("ascii"),
        "isBase64Encoded": True,
    }
