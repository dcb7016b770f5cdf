"""The HTTP edge: the API served by the Lambda (Function URL or API Gateway) and the local server.

A thin adapter over the core: decode a request, authorize it, call the engine, map errors in
one place. Build :class:`Services`, then :func:`create_app` (a powertools resolver) or
:func:`make_handler` (a Lambda handler that also takes direct operator invocations).
powertools is imported here and below only; the core knows nothing of it.

The names below are imported on first use, so importing one module of the package (the callback
path imports ``app``) does not build the others (the operator door's models).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lambda_resolver.http.app import create_app, handle, make_handler, openapi_document
    from lambda_resolver.http.documents import run_document
    from lambda_resolver.http.invoke import handle_operator_event
    from lambda_resolver.http.services import Services
    from lambda_resolver.http.wire import is_http_event

_WHERE = {
    "Services": "services",
    "create_app": "app",
    "handle": "app",
    "handle_operator_event": "invoke",
    "is_http_event": "wire",
    "make_handler": "app",
    "openapi_document": "app",
    "run_document": "documents",
}

__all__ = [
    "Services",
    "create_app",
    "handle",
    "handle_operator_event",
    "is_http_event",
    "make_handler",
    "openapi_document",
    "run_document",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
