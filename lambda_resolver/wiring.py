"""One wiring: a store from one setting, an engine from its parts.

The Lambda handler, the local stack and the tests all build their engine here, so they run the
same core the same way; only the parts differ. The store is named by one URL-like setting:

- ``sqlite:///path/to/lakehook.db`` (relative: ``sqlite:///.lakehook/lakehook.db``; absolute:
  ``sqlite:////var/lib/lakehook.db``) — the embedded default;
- ``dynamodb://<table>`` (optionally ``?due_shards=N&ttl_days=D``) — production; the client is
  passed in (``clients={"dynamodb": ...}``) or built lazily by the store.

A new backend is a module with a ``from_url(url, clients)`` function and a line in ``STORES``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from lambda_resolver.core.clock import Clock
    from lambda_resolver.core.context import Event, Notifier, Settings
    from lambda_resolver.core.engine import Engine
    from lambda_resolver.core.ids import TokenSigner
    from lambda_resolver.core.launcher import Launcher
    from lambda_resolver.core.store import Store

#: scheme → "module:function" building a store from a parsed URL (imported only when used, so a
#: Lambda never imports sqlite3's store and the local stack never imports botocore).
STORES: dict[str, str] = {
    "sqlite": "lambda_resolver.stores.sqlite:from_url",
    "dynamodb": "lambda_resolver.stores.dynamodb:from_url",
}


class StoreUrlError(ValueError):
    """A store setting that names no known backend, or names one badly."""


def open_store(url: str, clients: Mapping[str, Any] | None = None) -> Store:
    """The store a URL names (see the module docstring)."""
    parts = urlsplit(url)
    target = STORES.get(parts.scheme)
    if target is None:
        known = ", ".join(f"{s}://..." for s in sorted(STORES))
        raise StoreUrlError(f"store {url!r}: unknown kind {parts.scheme!r}; use one of {known}")
    module, _, func = target.partition(":")
    build: Callable[[StoreUrl, Mapping[str, Any]], Store] = getattr(importlib.import_module(module), func)
    return build(StoreUrl.parse(url), clients or {})


class StoreUrl:
    """A parsed store setting: ``scheme://location?options``."""

    def __init__(self, scheme: str, location: str, options: dict[str, str]) -> None:
        self.scheme, self.location, self.options = scheme, location, options

    @classmethod
    def parse(cls, url: str) -> StoreUrl:
        parts = urlsplit(url)
        # sqlite:///relative/path → "relative/path"; sqlite:////abs/path → "/abs/path"
        location = parts.netloc or ""
        if parts.path:
            location += parts.path[1:] if not parts.netloc else parts.path
        if not location:
            raise StoreUrlError(f"store {url!r} names no {'table' if parts.scheme == 'dynamodb' else 'file'}")
        options = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        return cls(parts.scheme, location, options)

    def int_option(self, name: str, default: int) -> int:
        raw = self.options.get(name)
        if raw is None:
            return default
        if not raw.isdigit() or int(raw) < 1:
            raise StoreUrlError(f"store option {name}={raw!r} must be a positive whole number")
        return int(raw)


def build_engine(
    *,
    store: Store | str,
    launcher: Launcher,
    signer: TokenSigner,
    settings: Settings,
    clock: Clock | None = None,
    event: Event | None = None,
    notifier: Notifier | None = None,
    clients: Mapping[str, Any] | None = None,
) -> Engine:
    """The engine over ``store`` (a Store, or a store URL) with the given parts."""
    from lambda_resolver.core.clock import SystemClock
    from lambda_resolver.core.context import Context
    from lambda_resolver.core.engine import Engine

    if isinstance(store, str):
        store = open_store(store, clients)
    ctx = Context(store, launcher, signer, settings, clock or SystemClock(), notifier=notifier)
    if event is not None:
        ctx.event = event
    return Engine(ctx)
