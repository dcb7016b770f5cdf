"""The Lambda's doors besides HTTP: the reconciler's schedule, and completion webhooks the
function hands itself.

- The scheduled door runs reconciler passes until the due index is empty or the invocation's
  time runs short.
- A completion webhook attempt, claimed in the store by the settle that ended a run, is handed to
  the function itself by an asynchronous invoke (``InvocationType=Event``) of the same alias, so
  no callback and no reconciler pass waits on a receiver; the delivery door sends it.
- A chunk of a wide fan-out (``core/fanout.py``) is handed on the same way; the fan-out door
  delivers it. Like the delivery door, it takes only events with no ``requestContext``: a direct
  invoke, which IAM authorises (``lambda:InvokeFunction``), never a Function URL request.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

RECONCILE_RESERVE_MS = 5_000  # stop starting reconciler passes this close to the Lambda timeout

#: Sends an event to this function as an asynchronous invoke (:func:`self_invoke`).
Send = Callable[[dict[str, Any]], None]


def is_schedule(event: Mapping[str, Any]) -> bool:
    return event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"


def is_delivery(event: Mapping[str, Any]) -> bool:
    return "lakehook_delivery" in event and "requestContext" not in event


def is_fanout(event: Mapping[str, Any]) -> bool:
    return "lakehook_fanout" in event and "requestContext" not in event


def reconcile(engine: Any, context: Any) -> dict[str, Any]:
    """Reconciler passes until nothing is due or the invocation is about to run out of time."""
    totals: dict[str, int] = {}
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    for _ in range(1000):
        counts = engine.reconcile()
        for k, v in counts.items():
            totals[k] = totals.get(k, 0) + v
        if not counts or (remaining is not None and remaining() < RECONCILE_RESERVE_MS):
            break
    return {"status": 200, "body": {"reconciled": totals}}


def deliver(engine: Any, request: Any) -> dict[str, Any]:
    """Send one claimed notification attempt ``{kind, id, attempt}``."""
    from lambda_resolver.core import notifications

    if (
        not isinstance(request, Mapping)
        or request.get("kind") not in ("run", "promise")
        or not isinstance(request.get("id"), str)
        or not isinstance(request.get("attempt"), int)
    ):
        error = {"code": "bad_request", "message": "a delivery event is {kind, id, attempt}"}
        return {"status": 400, "body": {"error": error}}
    ok = notifications.send(engine.ctx, request["kind"], request["id"], request["attempt"])
    return {"status": 200, "body": {"delivered": ok}}


def fanout(engine: Any, request: Any) -> dict[str, Any]:
    """Deliver one handed-on chunk of a wide fan-out ``{run_id, task_key, offset}``."""
    from lambda_resolver.core import fanout as chunks

    try:
        chunk = chunks.Chunk.from_json(request)
    except ValueError as exc:
        return {"status": 400, "body": {"error": {"code": "bad_request", "message": str(exc)}}}
    return {"status": 200, "body": {"fanout": chunks.resume(engine.advancer, chunk)}}


def self_invoke(environ: Mapping[str, str], context: Any, client: Callable[[], Any]) -> Send | None:
    """Send ``event`` to this function (the same alias) as an asynchronous invoke, so it runs in
    its own invocation with its own deadline. Outside Lambda (no function name) there is none.
    ``client`` builds the lambda client on the first send."""
    name = environ.get("AWS_LAMBDA_FUNCTION_NAME")
    if not name:
        return None
    qualifier = qualifier_of(context)
    built: list[Any] = []

    def send(event: dict[str, Any]) -> None:
        payload = json.dumps(event)
        kwargs: dict[str, Any] = {"FunctionName": name, "InvocationType": "Event", "Payload": payload}
        if qualifier:
            kwargs["Qualifier"] = qualifier
        if not built:
            built.append(client())
        built[0].invoke(**kwargs)

    return send


def delivery_dispatch(send: Send | None) -> Callable[[str, str, int], None] | None:
    """Dispatch a claimed notification attempt through ``send`` (:func:`self_invoke`); without it
    (outside Lambda) the reconciler sends notifications itself."""
    if send is None:
        return None

    def dispatch(kind: str, record_id: str, attempt: int) -> None:
        send({"lakehook_delivery": {"kind": kind, "id": record_id, "attempt": attempt}})

    return dispatch


def fanout_handoff(send: Send | None) -> Callable[[Any], None] | None:
    """Hand a fan-out chunk on through ``send`` (:func:`self_invoke`); without it the chunks run
    in turn in the invocation that finished the task."""
    if send is None:
        return None
    return lambda chunk: send({"lakehook_fanout": chunk.to_json()})


def qualifier_of(context: Any) -> str | None:
    """The alias or version this invocation was called through (from its ARN), if any."""
    arn = getattr(context, "invoked_function_arn", "") or ""
    return arn.split(":")[7] if arn.count(":") >= 7 else None
