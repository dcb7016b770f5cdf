"""Completion-webhook delivery: which receivers may be called, and a POST that cannot hang.

The operator lists the receivers (DESIGN §5): each an exact URL, or a URL prefix ending in "/",
each with its own Standard Webhooks signing secret (kept apart from the callback-token keys). A
``notify_url`` that matches none is refused when the run starts. At delivery the host is resolved
once; every address it resolves to must be public — no private, loopback, link-local, multicast
or reserved range — and the connection goes to the address that was checked, the name kept for
the Host header and for TLS (SNI and the certificate check), never resolved again. ``lakehook
dev`` accepts loopback receivers instead, signed with the stack's own secret. One wall-clock
deadline bounds the whole attempt: resolve, connect, TLS, send, read the status line.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple
from urllib.parse import SplitResult, unquote, urlsplit

from lambda_resolver.core.context import log
from lambda_resolver.core.notifications import public_url
from lambda_resolver.loopback import is_loopback_name
from lambda_resolver.webhooks import headers, secret_bytes

DEADLINE_S = 10.0
RECEIVERS_HINT = (
    'add it, or a prefix of it ending in "/", with its own signing secret to the receivers secret '
    '(NotifyReceiversSecretArn: JSON {"receivers": [{"url": "https://...", "secret": "whsec_..."}]})'
)
LOOPBACK_HINT = "lakehook dev delivers to loopback receivers only (http://127.0.0.1:<port>/...)"


class DeliveryError(Exception):
    """An attempt did not reach a receiver; the message says why (never a secret)."""


class Receiver(NamedTuple):
    """A URL the operator allows (exact, or a prefix when it ends in "/") and its signing secret."""

    url: str
    secret: bytes
    private: bool = False  # the operator allows private and loopback addresses for this one

    def __repr__(self) -> str:
        return f"Receiver({self.url!r})"

    def matches(self, target: SplitResult) -> bool:
        mine = urlsplit(self.url)
        if (mine.scheme, mine.hostname, _port(mine)) != (target.scheme, target.hostname, _port(target)):
            return False
        if self.url.endswith("/"):
            return (target.path or "/").startswith(mine.path or "/")
        return (mine.path or "/", mine.query) == (target.path or "/", target.query)


class Receivers:
    """The receiver list. ``loopback_secret`` set: any loopback URL is a receiver (``lakehook dev``)."""

    def __init__(self, receivers: Sequence[Receiver] = (), *, loopback_secret: bytes | None = None) -> None:
        self.receivers = tuple(receivers)
        self.loopback_secret = loopback_secret

    def __repr__(self) -> str:
        return f"Receivers({len(self.receivers)}, loopback={self.loopback_secret is not None})"

    @classmethod
    def parse(cls, text: str) -> Receivers:
        """The receivers secret: JSON ``{"receivers": [{"url": ..., "secret": "whsec_..."}]}``; a
        receiver with ``"private": true`` may be at a private or loopback address (in a VPC)."""
        try:
            doc = json.loads(text)
            items = doc["receivers"] if isinstance(doc, dict) else doc
            found = [
                Receiver(str(r["url"]), secret_bytes(str(r["secret"])), r.get("private") is True)
                for r in items
            ]
        except (ValueError, KeyError, TypeError):
            raise ValueError(
                'the receivers secret must be JSON {"receivers": [{"url": "https://host/path/", '
                '"secret": "whsec_<base64>"}]}'
            ) from None
        for r in found:
            parts = urlsplit(r.url)
            _port(parts)  # a bad port raises ValueError here, not at the first delivery
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.username is not None:
                raise ValueError(f"receiver {r.url!r} is not an http(s) URL without user:password@")
        return cls(found)

    @classmethod
    def loopback(cls, secret: str | bytes) -> Receivers:
        """Loopback receivers only, all signed with ``secret``: what ``lakehook dev`` accepts."""
        return cls(loopback_secret=secret_bytes(secret))

    def find(self, url: str) -> Receiver | str:
        """The receiver ``url`` goes to, or why it cannot (what to configure)."""
        try:
            target = urlsplit(url)
            _port(target)
        except ValueError:
            return "notify_url is not a valid URL"
        if target.scheme not in ("http", "https") or not target.hostname:
            return "notify_url must be an http(s) URL"
        if target.username is not None or target.password is not None:
            return "notify_url must not carry user:password@: receivers verify the webhook signature instead"
        if any(seg in (".", "..") for seg in unquote(target.path).split("/")):
            return "notify_url must not contain '.' or '..' path segments"
        if self.loopback_secret is not None:
            if is_loopback_name(target.hostname):
                return Receiver(f"{target.scheme}://{target.netloc}/", self.loopback_secret)
            return f"notify_url {public_url(url)} is not a loopback URL: {LOOPBACK_HINT}"
        for receiver in self.receivers:
            if receiver.matches(target):
                return receiver
        return f"notify_url {public_url(url)} matches no configured receiver: {RECEIVERS_HINT}"


class HttpNotifier:
    """The resolver's :class:`~lambda_resolver.core.context.Notifier`: signs and POSTs documents.

    ``receivers`` is a :class:`Receivers`, or one secret (loopback receivers signed with it).
    ``document`` builds the final document of a run or promise; a 2xx answer is accepted.
    ``timeout_s`` is the deadline of a whole attempt, not of each read.
    """

    def __init__(
        self,
        receivers: Receivers | str | bytes,
        document: Callable[[str, str], dict[str, Any]],
        *,
        timeout_s: float = DEADLINE_S,
    ) -> None:
        self.receivers = receivers if isinstance(receivers, Receivers) else Receivers.loopback(receivers)
        self._document = document
        self._timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"HttpNotifier({self.receivers!r}, timeout_s={self._timeout_s})"

    def refusal(self, url: str) -> str | None:
        found = self.receivers.find(url)
        return found if isinstance(found, str) else None

    def notify(self, kind: str, record_id: str, url: str) -> bool:
        url = public_url(url)  # a notify_url stored before userinfo was refused: never sent
        found = self.receivers.find(url)
        if isinstance(found, str):
            log.warning("not notifying %s %s: %s", kind, record_id, found)
            return False
        data = self._document(kind, record_id)
        doc = {"type": f"lakehook.{kind}.finished", "data": data}
        body = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
        msg_id = f"msg_{kind}_{record_id}"
        if data.get("repair_count"):  # a repaired run ends anew: not a duplicate to drop
            msg_id += f"_repair{data['repair_count']}"
        signed = headers(found.secret, msg_id, body)
        try:
            status = post(
                url,
                body,
                signed,
                timeout_s=self._timeout_s,
                allow_loopback=self.receivers.loopback_secret is not None,
                allow_private=found.private,
            )
        except DeliveryError as exc:
            log.warning("notification of %s %s to %s failed: %s", kind, record_id, url, exc)
            return False
        return 200 <= status < 300


def post(
    url: str,
    body: bytes,
    request_headers: Mapping[str, str],
    *,
    timeout_s: float = DEADLINE_S,
    allow_loopback: bool = False,
    allow_private: bool = False,
    resolve: Callable[[str, int], Sequence[str]] | None = None,
    tls: ssl.SSLContext | None = None,
) -> int:
    """POST ``body`` to ``url`` within ``timeout_s`` in all, to an address checked first; the
    status code. Raises DeliveryError (refused address, unreachable, deadline passed). ``resolve``
    replaces the system resolver, ``tls`` the default TLS context (the system's CAs)."""
    deadline = time.monotonic() + timeout_s
    target = urlsplit(url)
    host, port = target.hostname or "", _port(target)
    addresses = list(resolve(host, port)) if resolve else _resolve_by(host, port, deadline)
    if not addresses:
        raise DeliveryError(f"{host} does not resolve")
    for address in addresses:  # every answer checked: a mixed answer is refused, not raced
        reason = address_refusal(address, allow_loopback=allow_loopback, allow_private=allow_private)
        if reason:
            raise DeliveryError(f"{host}: {reason}")
    pinned = addresses[0]
    conn: http.client.HTTPConnection
    if target.scheme == "https":
        context = tls or ssl.create_default_context()
        conn = http.client.HTTPSConnection(host, port, timeout=_left(deadline), context=context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=_left(deadline))
    # Connect to the checked address, never the name again (a second lookup could answer a
    # private address); Host and TLS (SNI, certificate) still use the name.
    conn._create_connection = lambda _addr, timeout, source: socket.create_connection(  # type: ignore[attr-defined]
        (pinned, port), timeout, source
    )
    # The deadline is enforced, not per read: at the deadline the socket is shut down, which
    # ends any connect, handshake, send or read in progress.
    watchdog = threading.Timer(_left(deadline), _abort, (conn,))
    watchdog.daemon = True
    watchdog.start()
    try:
        path = (target.path or "/") + (f"?{target.query}" if target.query else "")
        conn.request("POST", path, body=body, headers=dict(request_headers))
        answer = conn.getresponse()
        if time.monotonic() > deadline:
            raise DeliveryError(f"no answer within {timeout_s:g} s")
        return answer.status
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if time.monotonic() >= deadline:
            raise DeliveryError(f"no answer within {timeout_s:g} s") from None
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
    finally:
        watchdog.cancel()
        conn.close()


def address_refusal(address: str, *, allow_loopback: bool = False, allow_private: bool = False) -> str | None:
    """Why a receiver may not be at ``address``, or None. With ``allow_loopback`` only loopback
    is allowed; ``allow_private`` adds private and loopback ranges to the public ones. Link-local
    (the instance metadata service), multicast, unspecified and reserved addresses never are."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if allow_loopback:
        return None if ip.is_loopback else f"{ip} is not a loopback address: {LOOPBACK_HINT}"
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified or (ip.is_reserved and not ip.is_loopback):
        return f"{ip} is a link-local, multicast, unspecified or reserved address"
    if allow_private and (ip.is_private or ip.is_loopback):
        return None
    if not ip.is_global:
        return f'{ip} is a private or loopback address (a receiver in a VPC needs "private": true)'
    return None


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _resolve_by(host: str, port: int, deadline: float) -> list[str]:
    """getaddrinfo has no timeout of its own: it runs on a thread the deadline does not wait for."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["addresses"] = _resolve(host, port)
        except OSError as exc:
            box["error"] = exc

    thread = threading.Thread(target=work, name="lakehook-resolve", daemon=True)
    thread.start()
    thread.join(_left(deadline))
    if "error" in box:
        raise DeliveryError(f"{host} does not resolve: {box['error']}")
    if "addresses" not in box:
        raise DeliveryError(f"{host} did not resolve within the deadline")
    return list(box["addresses"])


def _abort(conn: http.client.HTTPConnection) -> None:
    sock = conn.sock
    if sock is not None:
        # socket.socket's own shutdown, also for an SSLSocket: it acts on the descriptor and
        # leaves the TLS state to the thread that owns it.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _left(deadline: float) -> float:
    return max(0.001, deadline - time.monotonic())


def _port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)
