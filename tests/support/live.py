"""The resolver served over real HTTP on loopback (``local_server.serve``), with a real SQLite store.

``LiveResolver`` wires the HTTP app, a :class:`SqliteStore` file, the fake launcher and a fake
clock (so a test can move deadlines), with an operator key, Databricks webhook credentials and
signing keys of its own — each long and distinctive, so a test can look for them anywhere.
``raw()`` sends a request exactly as given (path, method, headers, bytes) with ``http.client``:
no client library normalizes ``../`` or re-encodes ``%2F`` on the way.
"""

from __future__ import annotations

import base64
import http.client
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lambda_resolver.core.context import Context
from lambda_resolver.core.engine import Engine
from lambda_resolver.core.ids import TokenSigner
from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.http import Services, create_app
from lambda_resolver.http.local_server import LocalServer, serve
from lambda_resolver.stores.sqlite import SqliteStore
from notebook_lib.handle import decode_handle

from support.fakes import FakeLauncher
from support.flows import flow, job_task
from support.harness import Harness


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LiveResolver:
    """A started server, its Harness (store, fake launcher, clock) and its credentials."""

    server: LocalServer
    h: Harness
    operator_key: str
    webhook_user: str
    webhook_password: str
    signing_keys: dict[str, bytes]
    replies: list[Reply] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def secrets(self) -> dict[str, str]:
        """Every secret this resolver holds, by name, in each form it could leak in."""
        out = {
            "operator key": self.operator_key,
            "webhook password": self.webhook_password,
            "webhook Basic header": self.basic_header()["Authorization"].split(" ", 1)[1],
        }
        for kid, key in self.signing_keys.items():
            out[f"signing key {kid} (base64)"] = base64.b64encode(key).decode()
            out[f"signing key {kid} (urlsafe)"] = base64.urlsafe_b64encode(key).decode().rstrip("=")
            out[f"signing key {kid} (hex)"] = key.hex()
            out[f"signing key {kid} (text)"] = key.decode("latin-1")
        return out

    def operator(self) -> dict[str, str]:
        return {"X-Lakehook-Operator-Key": self.operator_key}

    def basic_header(self) -> dict[str, str]:
        creds = base64.b64encode(f"{self.webhook_user}:{self.webhook_password}".encode()).decode()
        return {"Authorization": f"Basic {creds}"}

    def raw(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        timeout: float = 30,
    ) -> Reply:
        """One request sent as given; the answer is recorded in ``replies``."""
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
        try:
            data = body.encode("utf-8") if isinstance(body, str) else body
            conn.putrequest(method, path, skip_host=False, skip_accept_encoding=True)
            sent = {k.lower() for k in (headers or {})}
            for name, value in (headers or {}).items():
                conn.putheader(name, value)
            if data is not None and "content-length" not in sent:
                conn.putheader("Content-Length", str(len(data)))
            conn.endheaders(data)
            resp = conn.getresponse()
            reply = Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()
        self.replies.append(reply)
        return reply

    def call(
        self,
        method: str,
        path: str,
        doc: Any = None,
        *,
        token: str | None = None,
        operator: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """A JSON request (``doc`` is serialized unless it is already bytes/str)."""
        all_headers: dict[str, str] = {}
        body: bytes | str | None = None
        if doc is not None:
            all_headers["Content-Type"] = "application/json"
            body = doc if isinstance(doc, (bytes, str)) else json.dumps(doc)
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        if operator:
            all_headers.update(self.operator())
        all_headers.update(headers or {})
        return self.raw(method, path, body, all_headers)

    def handles(self, run_id: str) -> dict[str, tuple[str, str]]:
        """Task key → (promise id, token) of every attempt the fake launcher started for ``run_id``."""
        out: dict[str, tuple[str, str]] = {}
        for run in self.h.launcher.runs.values():
            handle = decode_handle(run.request.parameters["lakehook"])
            if handle.promise_id.startswith(f"{run_id}."):
                out[handle.promise_id.split(".")[-2]] = (handle.promise_id, handle.token)
        return out

    def close(self) -> None:
        self.server.close()
        self.h.store.close()


def start_live(
    db: Path,
    *,
    resonate_compat: bool = True,
    keys: Mapping[str, bytes] | None = None,
    active: str | None = None,
) -> LiveResolver:
    """A resolver on a free loopback port over the SQLite file ``db`` (not yet holding any flow)."""
    signing_keys = dict(keys or {"kA": secrets.token_bytes(32)})
    signer = TokenSigner(signing_keys, active or next(iter(signing_keys)))
    h = Harness(SqliteStore(db))
    h.signer = signer
    h.ctx = Context(h.store, h.launcher, signer, h.settings, h.clock, h.ctx.event)
    h.engine = Engine(h.ctx)
    operator_key = "opkey-" + secrets.token_urlsafe(24)
    user, password = "databricks-" + secrets.token_hex(4), "hookpw-" + secrets.token_urlsafe(18)
    services = Services(
        engine=lambda: h.engine,
        signer=signer,
        operator_key=operator_key,
        webhook_credentials=(user, password),
        resonate_compat=resonate_compat,
    )
    server = serve(create_app(services), "127.0.0.1", 0)
    return LiveResolver(server, h, operator_key, user, password, signing_keys)


def pair_flow() -> FlowManifest:
    """Two independent job tasks and one after both: enough promises to settle and to refuse."""
    return flow(
        "pair",
        [
            job_task("a", params={"day": "{{job.parameters.day}}"}),
            job_task("b"),
            job_task("c", ["a", "b"], params={"rows": "{{tasks.a.values.rows}}"}),
        ],
        params={"day": ""},
    )


def is_error_shape(doc: Any) -> bool:
    """``{"error": {"code": str, "message": str, ...}}`` — the one documented error shape."""
    if not isinstance(doc, dict) or set(doc) != {"error"} or not isinstance(doc["error"], dict):
        return False
    err = doc["error"]
    return isinstance(err.get("code"), str) and bool(err["code"]) and isinstance(err.get("message"), str)


__all__ = ["FakeLauncher", "LiveResolver", "Reply", "is_error_shape", "pair_flow", "start_live"]
