"""The resolver's operator door as ``publish`` uses it: over HTTP, or by direct Lambda invocation.

:class:`HttpResolver` speaks to ``LAKEHOOK_URL`` with the operator key; :class:`LambdaResolver`
invokes the function with IAM. The client and boto3 are imported only when used.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from lambda_resolver.publish.errors import ResolverError

if TYPE_CHECKING:
    from lambda_resolver.client import LakehookClient


class Resolver(Protocol):
    """The operator door ``publish`` uses: the latest manifests, and publishing a new version."""

    @property
    def where(self) -> str: ...

    def latest(self) -> dict[str, int]:
        """Every published flow's latest version, by name."""
        ...

    def manifest(self, name: str) -> dict[str, Any]:
        """The latest manifest of ``name`` (``FlowManifest.to_dict`` shape, with ``version``)."""
        ...

    def publish(self, manifest: Mapping[str, Any], *, production: bool = False) -> int:
        """Store ``manifest`` as the flow's next version; returns that version. ``production``:
        the target is ``mode: production`` (a flow's first schedule then starts active)."""
        ...


class HttpResolver:
    """The resolver's HTTP API (``LAKEHOOK_URL``, operator key from ``LAKEHOOK_OPERATOR_KEY``)."""

    def __init__(self, client: LakehookClient | None = None) -> None:
        if client is None:
            from lambda_resolver.client import LakehookClient

            client = LakehookClient()
        self.client = client

    @property
    def where(self) -> str:
        return self.client.url

    def latest(self) -> dict[str, int]:
        flows = self._do(self.client.list_flows)
        return {str(f["name"]): int(f["version"]) for f in flows if isinstance(f, Mapping)}

    def manifest(self, name: str) -> dict[str, Any]:
        doc: dict[str, Any] = self._do(lambda: self.client.get_flow(name))
        return doc

    def publish(self, manifest: Mapping[str, Any], *, production: bool = False) -> int:
        answer = self._do(lambda: self.client.publish(manifest, production=production))
        return int(answer["version"])

    def _do(self, call: Callable[[], Any]) -> Any:
        from lambda_resolver.client import LakehookClientError

        try:
            return call()
        except LakehookClientError as exc:
            if exc.status == 0:
                raise ResolverError(
                    f"cannot reach the resolver at {self.client.url} (LAKEHOOK_URL): {exc.message}; set "
                    "LAKEHOOK_URL to the stack's FunctionUrl output (or start `lakehook dev`), or use "
                    "--lambda <FunctionArn>"
                ) from None
            if exc.status in (401, 403):
                raise ResolverError(
                    f"the resolver at {self.client.url} refused the operator request ({exc.status} "
                    f"{exc.code}: {exc.message}); set LAKEHOOK_OPERATOR_KEY to the operator key, or use "
                    "--lambda <FunctionArn> with IAM"
                ) from None
            raise ResolverError(f"the resolver at {self.client.url} answered {exc}") from None


class LambdaResolver:
    """The operator door by direct Lambda invocation (IAM): ``{"lakehook": "<action>", ...}``
    events answered ``{"status": ..., "body": ...}``. ``function`` is the function's name or ARN
    (the stack's ``FunctionArn`` output, the ``live`` alias); credentials and region come from
    boto3's usual chain, the region from the ARN when it has one."""

    def __init__(self, function: str, *, client_factory: Callable[[], Any] | None = None) -> None:
        self.function = function
        self._factory = client_factory
        self._client: Any = None

    @property
    def where(self) -> str:
        return f"Lambda {self.function}"

    def _lambda(self) -> Any:
        if self._client is None:
            if self._factory is not None:
                self._client = self._factory()
            else:
                import boto3

                parts = self.function.split(":")
                region = parts[3] if self.function.startswith("arn:") and len(parts) > 3 else None
                kwargs: dict[str, Any] = {"region_name": region} if region else {}
                self._client = boto3.client("lambda", **kwargs)
        return self._client

    def invoke(self, action: str, **fields: Any) -> Any:
        """One action; its ``body`` when ``status`` < 400, else :class:`ResolverError`."""
        event = {"lakehook": action, **fields}
        try:
            answer = self._lambda().invoke(
                FunctionName=self.function,
                InvocationType="RequestResponse",
                Payload=json.dumps(event).encode(),
            )
            raw = answer["Payload"].read()
        except Exception as exc:  # noqa: BLE001 - botocore's errors: credentials, IAM, network
            raise ResolverError(
                f"cannot invoke {self.function}: {type(exc).__name__}: {exc}; the caller needs "
                "lambda:InvokeFunction on the `live` alias (attach the stack's OperatorPolicyArn) "
                "and AWS credentials for that account"
            ) from None
        try:
            doc = json.loads(raw or b"null")
        except ValueError:
            doc = None
        if answer.get("FunctionError"):
            message = doc.get("errorMessage") if isinstance(doc, Mapping) else None
            raise ResolverError(f"{self.function} failed: {message or answer['FunctionError']}")
        if not isinstance(doc, Mapping) or "status" not in doc:
            raise ResolverError(f"{self.function} did not answer like the lakehook resolver: {raw[:200]!r}")
        status, body = int(doc["status"]), doc.get("body")
        if status >= 400:
            err = body.get("error") if isinstance(body, Mapping) else None
            err = err if isinstance(err, Mapping) else {}
            raise ResolverError(
                f"{self.function} answered {status} {err.get('code', 'error')}: {err.get('message', body)}"
            )
        return body

    def latest(self) -> dict[str, int]:
        body = self.invoke("list_flows")
        flows = body.get("flows", []) if isinstance(body, Mapping) else []
        return {str(f["name"]): int(f["version"]) for f in flows if isinstance(f, Mapping)}

    def manifest(self, name: str) -> dict[str, Any]:
        body = self.invoke("get_flow", name=name)
        return dict(body) if isinstance(body, Mapping) else {}

    def publish(self, manifest: Mapping[str, Any], *, production: bool = False) -> int:
        body = self.invoke("publish", manifest=dict(manifest), production=production)
        return int(body["version"])
