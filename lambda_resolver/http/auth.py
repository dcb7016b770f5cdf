"""Who may call what: callback tokens, the operator key, the webhook's HTTP Basic credentials.

- Callback door (``/v1/promises/{id}/resolve|reject|heartbeat``): the promise's own token
  (``Authorization: Bearer <token>``, checked by :meth:`TokenSigner.verify`), or operator
  credentials — an operator may settle any promise.
- Operator door (runs, standalone promises, flows): operator credentials only; a callback
  token never opens it. ``operator_open`` (the local stack on loopback) lets a request that
  presents no credentials in as the operator; one that presents wrong credentials is refused.
- Webhook: HTTP Basic with the notification destination's user and password.

Every secret is compared in constant time, and a refusal never says which part failed.
Nothing here logs a header.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from typing import NamedTuple

from lambda_resolver.core.errors import Forbidden
from lambda_resolver.http.errors import BEARER_CHALLENGE, AuthRequired, RouteNotFound
from lambda_resolver.http.services import Services
from lambda_resolver.http.wire import header

BASIC_CHALLENGE = 'Basic realm="lakehook-webhooks", charset="UTF-8"'
DENIED = "missing or invalid credentials"
OPERATOR_HEADER = "X-Lakehook-Operator-Key"
MAX_SECRET = 1024  # longer "secrets" are refused before any comparison


class Credentials(NamedTuple):
    """What a request presents. ``presented``: any credential header at all, even malformed."""

    bearer: str | None
    operator_header: str | None
    presented: bool

    def __repr__(self) -> str:
        return f"Credentials(bearer={'***' if self.bearer else None}, presented={self.presented})"


def read_credentials(headers: Mapping[str, str] | None) -> Credentials:
    """The bearer token of ``Authorization`` and the operator key header, if any."""
    authorization = header(headers, "Authorization")
    operator = header(headers, OPERATOR_HEADER)
    bearer = None
    if authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            bearer = value.strip()
    return Credentials(bearer, operator, authorization is not None or operator is not None)


def same_secret(given: str, expected: str) -> bool:
    """Constant-time equality of two secrets (as UTF-8 bytes, so any text compares)."""
    if len(given) > MAX_SECRET:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


def is_operator(services: Services, creds: Credentials) -> bool:
    """Whether the request carries the operator key (bearer or header). Both are compared, in
    constant time, whatever the first says: no answer time tells which one was tried."""
    key = services.operator_key
    if key is None:
        return False
    by_header = same_secret(creds.operator_header or "", key)
    by_bearer = same_secret(creds.bearer or "", key)
    return (creds.operator_header is not None and by_header) or (creds.bearer is not None and by_bearer)


def _token_shaped(token: str) -> bool:
    # TokenSigner.verify compares str with hmac.compare_digest, which refuses non-ASCII text
    # with a TypeError: only printable ASCII of a sane length ever reaches it.
    return 0 < len(token) <= MAX_SECRET and token.isascii() and token.isprintable()


def require_callback(services: Services, headers: Mapping[str, str] | None, promise_id: str) -> str | None:
    """Admit a settle or heartbeat of ``promise_id``: returns the nonce the promise's token is
    bound to (``""`` for a first-format token), or None for an operator.

    The nonce still has to match the stored promise's (the engine checks it on the read it does
    anyway). Raises a 401 whose body is the same whatever was wrong (missing, malformed, forged,
    signed with an unknown key, or the token of another promise).
    """
    creds = read_credentials(headers)
    token = creds.bearer
    if token is not None and _token_shaped(token):
        nonce = services.signer.nonce_of(promise_id, token)
        if nonce is not None:
            return nonce
    if is_operator(services, creds) or (services.operator_open and not creds.presented):
        return None
    raise AuthRequired(DENIED, BEARER_CHALLENGE)


def require_operator(services: Services, headers: Mapping[str, str] | None) -> None:
    """Admit an operator request, or raise 401 (bad or missing credentials) / 403 (door closed)."""
    creds = read_credentials(headers)
    if is_operator(services, creds):
        return
    if services.operator_open and not creds.presented:
        return
    if services.operator_key is None and not services.operator_open:
        raise Forbidden(
            "the operator door is closed over HTTP: configure an operator key, or invoke the "
            "function directly (authorized by IAM)"
        )
    raise AuthRequired(DENIED, BEARER_CHALLENGE)


def require_webhook(services: Services, headers: Mapping[str, str] | None) -> None:
    """Admit a Databricks job notification by its HTTP Basic credentials.

    Not configured → 404 (the route is off); wrong or missing → 401 with a Basic challenge.
    """
    expected = services.webhook_credentials
    if expected is None:
        raise RouteNotFound(
            "the Databricks webhook is not configured on this resolver (set its Basic credentials)"
        )
    user, password = _basic(header(headers, "Authorization"))
    user_ok = same_secret(user, expected[0])
    password_ok = same_secret(password, expected[1])  # both compared: no early exit on the user
    if not (user_ok and password_ok):
        raise AuthRequired(DENIED, BASIC_CHALLENGE)


def _basic(authorization: str | None) -> tuple[str, str]:
    if not authorization:
        return "", ""
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or len(value) > 4 * MAX_SECRET:
        return "", ""
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else ("", "")
