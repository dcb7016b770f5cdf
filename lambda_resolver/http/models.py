"""Request bodies (validated) and answer documents (described in ``/openapi.json``) of the
callback door and the webhook, and the types both doors share; the operator door's are in
:mod:`.operator_models`, built only with its routes.

Request models forbid unknown fields, so a typo (``param`` for ``params``) is a 422 rather than
a silently ignored setting. Ids are checked by the core (400 ``invalid_id``); the pattern is
repeated here for the OpenAPI document only. The answer models are documentation: the answers
themselves are built by ``documents``/``promise_document``, and a test checks they agree.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from lambda_resolver.core.models import PromiseState

ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
MAX_TIMEOUT_S = 7 * 24 * 3600


def _not_bool(value: Any) -> Any:
    # pydantic's lax mode reads true as 1; a flag where a number belongs is a mistake, not job 1.
    if isinstance(value, bool):
        raise ValueError("expected a number, not a boolean")  # noqa: TRY004 - pydantic wants ValueError
    return value


def _blank_none(value: Any) -> Any:
    return None if value == "" else value


T = TypeVar("T")
BlankIsNone = Annotated[T | None, BeforeValidator(_blank_none)]
"""An optional query parameter where ``?name=`` means "not given"."""

FlowName = Annotated[str, Field(min_length=1, max_length=128)]
Cursor = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9_-]+$")]
IdStr = Annotated[str, Field(max_length=512, json_schema_extra={"pattern": ID_PATTERN})]
# A bounded number is ``Annotated[int, Field(ge=1), BeforeValidator(_not_bool)]``: bounds before
# the validator. After it (or on ``Int``, which has one) pydantic cannot fold them into the number's
# schema and writes its own ``ge``/``le``/``gt`` into the OpenAPI document, which JSON Schema does
# not know; before it they are ``minimum``/``maximum``/``exclusiveMinimum``.
Int = Annotated[int, BeforeValidator(_not_bool)]
Seconds = Annotated[float, BeforeValidator(_not_bool)]
Url = Annotated[
    str,
    Field(
        max_length=2048,
        pattern=r"^https?://\S+$",
        description="Where the final document is POSTed, signed: a receiver the operator configured "
        "(lakehook dev: a loopback URL), without user:password@; anything else is a 400.",
    ),
]


class Model(BaseModel):
    """Every model of the API. Its validator and schema are built on first use, not when the class
    is (``defer_build``): a callback container builds the one body it validates, and the answer
    models, which only document, are built for ``/openapi.json``."""

    model_config = ConfigDict(defer_build=True)


class Strict(Model):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


# -- the callback door ---------------------------------------------------------------------------
class ResolveBody(Strict):
    """``POST /v1/promises/{id}/resolve``: the value, any JSON up to 256 KiB (``null`` too)."""

    value: Any = Field(description="Any JSON value, at most 256 KiB as compact UTF-8 JSON.")


class ErrorInfo(Strict):
    """Why a task failed: a message, an exception type, a (trimmed) traceback."""

    message: str = Field(max_length=16_384)
    type: str | None = Field(default=None, max_length=256)
    traceback: str | None = Field(default=None, max_length=65_536)

    def as_error(self) -> dict[str, Any]:
        """The stored error: ``type`` defaults to ``Error``; ``traceback`` only when given."""
        out: dict[str, Any] = {"type": self.type or "Error", "message": self.message}
        if self.traceback:
            out["traceback"] = self.traceback
        return out


class RejectBody(Strict):
    """``POST /v1/promises/{id}/reject``."""

    error: ErrorInfo


class HeartbeatBody(Strict):
    """``POST /v1/promises/{id}/heartbeat``: push the deadline out (``extend_s`` from now)."""

    extend_s: Annotated[float, Field(gt=0, le=MAX_TIMEOUT_S), BeforeValidator(_not_bool)] | None = None


# -- the Databricks webhook --------------------------------------------------------------------------
class WebhookRun(Model):
    """The run a notification is about; task-level events add the job run as ``parent_run_id``."""

    run_id: int | str | None = None
    parent_run_id: int | str | None = None


class WebhookPayload(Model):
    """A Databricks job notification. Only a hint: the resolver re-reads the run."""

    model_config = ConfigDict(extra="allow")

    event_type: str | None = None
    run: WebhookRun | None = None


# -- answers (documentation) ---------------------------------------------------------------------
class ErrorDetail(Model):
    """A stable ``code``, a message for people, and details that depend on the code."""

    model_config = ConfigDict(extra="allow")

    code: str
    message: str


class ErrorBody(Model):
    """Every error answer: ``{"error": {"code", "message", ...details}}``."""

    error: ErrorDetail


class PromiseDocument(Model):
    """A promise: its state, value or error, times (ISO 8601 UTC, ms) and its task or job run."""

    id: str
    state: PromiseState
    value: Any = None
    error: dict[str, Any] | None = None
    created_at: str
    settled_at: str | None
    timeout_at: str
    run_id: str | None
    task_key: str | None
    attempt: int | None
    databricks_run_id: int | None
    run_page_url: str | None


class ConflictDetail(ErrorDetail):
    """``already_settled``: the stored promise comes with the error."""

    promise: PromiseDocument


class ConflictBody(Model):
    """409: the promise was settled differently (or timed out); the stored promise is attached."""

    error: ConflictDetail


class WebhookAnswer(Model):
    """Always 202 ``{"accepted": true}``: the notification is taken as a hint, nothing is echoed."""

    accepted: bool


class Health(Model):
    """Alive."""

    ok: bool
