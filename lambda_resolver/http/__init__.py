"""The HTTP edge: the API served by the Lambda (Function URL or API Gateway) and the local server.

A thin adapter over the core: decode a request, authorize it, call the engine, map errors in
one place. Build :class:`Services`, then :func:`create_app` (a powertools resolver) or
:func:`make_handler` (a Lambda handler that also takes direct operator invocations).
powertools is imported here and below only; the core knows nothing of it.
"""

from __future__ import annotations

from lambda_resolver.http.app import create_app, handle, make_handler, openapi_document
from lambda_resolver.http.documents import run_document
from lambda_resolver.http.invoke import handle_operator_event, is_http_event
from lambda_resolver.http.services import Services

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
