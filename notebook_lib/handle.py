"""The callback handle: the opaque string the resolver puts in the ``lakehook`` job parameter.

Format (version 1)::

    "lh1." + base64url_nopad(json.dumps({"u": url, "p": promise_id, "t": token},
                                        separators=(",", ":")))

``u`` is the resolver's base URL without a trailing slash, ``p`` the promise id and ``t`` the
promise's bearer token. Users never parse it; the resolver builds it with :func:`encode_handle`.

This module stays import-light on purpose (the resolver imports it on its hot path, notebooks
import it on start-up): ``json`` and ``base64`` are imported inside the functions, and
:class:`Handle` is a hand-written frozen value class rather than a ``dataclass`` because
``dataclasses`` alone pulls in ``inspect`` and costs tens of milliseconds on a cold start.
"""

from __future__ import annotations

PREFIX = "lh1."
"""The version tag of the only handle format so far."""

_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-")
_ID_MAX = 128


def valid_promise_id(promise_id: object) -> bool:
    """Whether ``promise_id`` matches ``[A-Za-z0-9._:-]{1,128}``."""
    return (
        isinstance(promise_id, str)
        and 0 < len(promise_id) <= _ID_MAX
        and all(c in _ID_CHARS for c in promise_id)
    )


class Handle:
    """A decoded handle: where to call back (``url``), which promise, and its ``token``.

    Frozen and compared by value, like a frozen dataclass. Its repr hides the token.
    """

    __slots__ = ("promise_id", "token", "url")

    url: str
    promise_id: str
    token: str

    def __init__(self, url: str, promise_id: str, token: str) -> None:
        object.__setattr__(self, "url", url)
        object.__setattr__(self, "promise_id", promise_id)
        object.__setattr__(self, "token", token)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Handle is frozen: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Handle is frozen: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Handle):
            return NotImplemented
        return (self.url, self.promise_id, self.token) == (other.url, other.promise_id, other.token)

    def __hash__(self) -> int:
        return hash((self.url, self.promise_id, self.token))

    def __repr__(self) -> str:
        # The token is a bearer credential: it never appears in a repr, log line or message.
        return f"Handle(url={self.url!r}, promise_id={self.promise_id!r}, token='***')"


def _check_url(url: object) -> str:
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise ValueError("the resolver URL must be an http:// or https:// URL")
    if any(c.isspace() for c in url):
        raise ValueError("the resolver URL must not contain whitespace")
    return url.rstrip("/")


def encode_handle(url: str, promise_id: str, token: str) -> str:
    """Build the ``lakehook`` job parameter value for one promise (used by the resolver).

    Trailing slashes of ``url`` are dropped. Raises ``ValueError`` for a URL that is not
    http(s), a promise id outside ``[A-Za-z0-9._:-]{1,128}`` or an empty token.
    """
    import base64
    import json

    base = _check_url(url)
    if not valid_promise_id(promise_id):
        raise ValueError("promise id must match [A-Za-z0-9._:-]{1,128}")
    if not isinstance(token, str) or not token:
        raise ValueError("the token must be a non-empty string")
    doc = json.dumps({"u": base, "p": promise_id, "t": token}, separators=(",", ":"))
    return PREFIX + base64.urlsafe_b64encode(doc.encode("utf-8")).rstrip(b"=").decode("ascii")


def decode_handle(s: str) -> Handle:
    """Parse a handle string into a :class:`Handle`.

    Raises ``ValueError`` naming what is wrong (version, encoding, a missing field); the
    message never quotes the handle, since the handle carries the token.
    """
    import base64
    import binascii
    import json

    if not isinstance(s, str):
        raise TypeError(f"a lakehook handle must be a string, not {type(s).__name__}")
    s = s.strip()
    if not s.startswith(PREFIX):
        version = s.partition(".")[0]
        if version.startswith("lh") and version[2:].isdigit():  # digits only: safe to quote
            raise ValueError(
                f"unsupported lakehook handle version {version!r}; this notebook_lib reads "
                f"{PREFIX[:-1]!r} only: upgrade the lakehook wheel on the cluster"
            )
        raise ValueError(f"malformed lakehook handle: it does not start with {PREFIX!r}")
    body = s[len(PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        doc = json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        # `from None`: the underlying errors are about bytes that include the token.
        raise ValueError("malformed lakehook handle: not base64url-encoded JSON") from None
    if not isinstance(doc, dict):
        raise ValueError("malformed lakehook handle: the payload is not a JSON object")  # noqa: TRY004
    missing = [k for k in ("u", "p", "t") if not isinstance(doc.get(k), str) or not doc.get(k)]
    if missing:
        raise ValueError(f"malformed lakehook handle: missing or empty field(s) {', '.join(missing)}")
    try:
        url = _check_url(doc["u"])
    except ValueError as exc:
        raise ValueError(f"malformed lakehook handle: {exc}") from None
    if not valid_promise_id(doc["p"]):
        raise ValueError("malformed lakehook handle: promise id must match [A-Za-z0-9._:-]{1,128}")
    return Handle(url, doc["p"], doc["t"])
