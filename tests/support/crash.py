"""Fault injection: stop the resolver right after any store write or external call.

The seam is the core's own boundary. A :class:`~lambda_resolver.core.context.Context` is built
from a store and a launcher; a crash-point test builds it from :class:`CrashingStore` and
:class:`CrashingLauncher` instead, which forward every call to the real store and launcher and
count the ones that change something outside the process:

- every state-changing store call (``create_promise``, ``update_promise``, ``put_flow``,
  ``create_run``, ``update_run``, ``update_task``, ``deliver_edge``, ``complete_propagation``,
  ``acquire_slot``, ``release_slot``, ``begin_repair``, ``reset_task``, and the writes of a task
  with its attempt's promise: ``claim_task``, ``update_attempt``, ``deliver_and_claim``) — counted once it
  *returned*, whether it wrote or lost its condition: the write landed (or did not), then the process died;
- every call to Databricks: ``trigger`` (run-now) twice — just before it is sent, and after it
  returned (the run started, the process died before recording it) — and ``cancel``,
  ``get_run`` after they returned.

When the count reaches :attr:`Faults.crash_after`, the proxy raises :class:`Crash`, a
``BaseException``: no ``except Exception`` (nor ``except LakehookError``) in the code under test
can swallow it, exactly as nothing in a process survives a ``kill -9``. A crash fires once;
afterwards the same :class:`Faults` only keeps counting (the restarted process is not injected).

:class:`CrashingClient` is the same seam one level lower, around a boto3 DynamoDB client: it
counts each write request (``PutItem``, ``UpdateItem``, ``TransactWriteItems``, ...), so a crash
can also land *inside* a store call that makes several requests (``create_run`` puts the run,
then each task).

Reads are never crash points: a crash after a read leaves exactly the state of a crash after
the write before it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STORE_WRITES = frozenset(
    {
        "create_promise",
        "update_promise",
        "put_flow",
        "create_run",
        "update_run",
        "update_task",
        "deliver_edge",
        "complete_propagation",
        "acquire_slot",
        "release_slot",
        "begin_repair",
        "reset_task",
        "claim_task",
        "update_attempt",
        "deliver_and_claim",
    }
)
#: A for_each loop's writes (core/iterations.py): crash points of test_crash_points_for_each.py.
LOOP_WRITES = frozenset({"create_loop", "claim_iteration", "finish_iteration", "stop_loop"})
#: A schedule's writes: crash points of a firing (tests/core/test_schedules.py), not of a run's life.
SCHEDULE_WRITES = frozenset({"put_schedule"})

DYNAMODB_WRITES = frozenset(
    {"put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item"}
)


class Crash(BaseException):
    """The process died here. Raised by the proxies; never caught by the code under test."""

    def __init__(self, n: int, op: str) -> None:
        super().__init__(f"crash after operation {n}: {op}")
        self.n = n
        self.op = op


@dataclass
class Faults:
    """The crash schedule and the log of every counted operation, shared by the proxies.

    ``crash_after=None`` never crashes (use it to count the operations of a life).
    """

    crash_after: int | None = None
    ops: list[str] = field(default_factory=list)
    crashed: Crash | None = None
    cancels: Counter[int] = field(default_factory=Counter)  # Databricks run id → cancel calls

    def point(self, op: str) -> None:
        """One counted operation has just completed (or, for ``trigger:before``, is about to start)."""
        self.ops.append(op)
        if self.crashed is None and self.crash_after is not None and len(self.ops) == self.crash_after:
            self.crashed = Crash(len(self.ops), op)
            raise self.crashed

    def log(self, around: int | None = None, width: int = 6) -> str:
        """The numbered operation log (all of it, or ``width`` either side of ``around``)."""
        lo, hi = 1, len(self.ops)
        if around is not None:
            lo, hi = max(1, around - width), min(len(self.ops), around + width)
        mark = {around: " <- crash"} if around is not None else {}
        return "\n".join(f"{i:4d} {self.ops[i - 1]}{mark.get(i, '')}" for i in range(lo, hi + 1))


def _describe(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """A short, stable label for a store write: ``update_task(a->RUNNING)``."""
    changes = kwargs.get("changes", args[2] if name == "update_task" and len(args) > 2 else None)
    if name in ("update_promise", "update_run") and changes is None and len(args) > 1:
        changes = args[1]
    state = changes.get("state") if isinstance(changes, dict) else None
    what = f"->{state}" if state else (f"{{{','.join(sorted(changes))}}}" if changes else "")
    if name == "create_promise":
        return f"create_promise({args[0].id})"
    if name == "update_promise":
        return f"update_promise({args[0]}{what})"
    if name == "put_flow":
        return f"put_flow({args[0].name})"
    if name == "create_run":
        return f"create_run({args[0].run_id})"
    if name == "update_run":
        return f"update_run({args[0]}{what})"
    if name == "update_task":
        return f"update_task({args[1]}{what})"
    if name == "deliver_edge":
        return f"deliver_edge({args[2]}->{args[1]})"
    if name == "claim_task":
        return f"claim_task({args[1]})"
    if name == "update_attempt":
        task_changes = kwargs.get("task_changes", args[2] if len(args) > 2 else {})
        return f"update_attempt({args[1]}->{task_changes.get('state')})"
    if name == "deliver_and_claim":
        return f"deliver_and_claim({args[2]}->{args[1]})"
    if name == "complete_propagation":
        return f"complete_propagation({args[1]})"
    if name == "begin_repair":
        return f"begin_repair({args[0]})"
    if name == "reset_task":
        return f"reset_task({args[1]})"
    if name == "create_loop":
        return f"create_loop({args[0].task_key})"
    if name == "claim_iteration":
        return f"claim_iteration({args[0].task_key}#{args[1].index})"
    if name == "finish_iteration":
        return f"finish_iteration({args[0].task_key}#{args[1]}{'+retry' if kwargs.get('retry') else ''})"
    if name == "stop_loop":
        return f"stop_loop({args[1]})"
    if name == "put_schedule":
        return f"put_schedule({args[0].flow})"
    return f"{name}({', '.join(str(a) for a in args)})"


class CrashingStore:
    """A Store that forwards everything and counts (and may crash after) each write."""

    def __init__(self, inner: Any, faults: Faults) -> None:
        self.inner = inner
        self.faults = faults

    def __repr__(self) -> str:
        return f"CrashingStore({self.inner!r})"

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in STORE_WRITES and name not in SCHEDULE_WRITES and name not in LOOP_WRITES:
            return attr

        def write(*args: Any, **kwargs: Any) -> Any:
            label = _describe(name, args, kwargs)
            try:
                result = attr(*args, **kwargs)
            except Exception:
                self.faults.point(label + " [lost its condition]")  # completed: nothing written
                raise
            self.faults.point(label)
            return result

        return write


class CrashingLauncher:
    """A Launcher that forwards to ``inner`` and counts (and may crash at) each Databricks call."""

    def __init__(self, inner: Any, faults: Faults) -> None:
        self.inner = inner
        self.faults = faults

    def __getattr__(self, name: str) -> Any:  # the fake's test helpers (runs, duplicates, ...)
        return getattr(self.inner, name)

    def trigger(self, request: Any) -> Any:
        self.faults.point(f"trigger:before({request.promise_id})")  # the request never left
        try:
            launched = self.inner.trigger(request)
        except Exception:
            self.faults.point(f"trigger:after({request.promise_id}) [failed]")
            raise
        self.faults.point(f"trigger:after({request.promise_id})")  # the run started, unrecorded
        return launched

    def cancel(self, databricks_run_id: int) -> None:
        try:
            self.inner.cancel(databricks_run_id)
        finally:
            self.faults.cancels[databricks_run_id] += 1
        self.faults.point(f"cancel({databricks_run_id})")

    def get_run(self, databricks_run_id: int) -> Any:
        status = self.inner.get_run(databricks_run_id)
        self.faults.point(f"get_run({databricks_run_id})")
        return status


class CrashingClient:
    """A boto3 DynamoDB client that counts (and may crash after) each write request."""

    def __init__(self, client: Any, faults: Faults) -> None:
        self.client = client
        self.faults = faults

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if name not in DYNAMODB_WRITES:
            return attr

        def write(**kwargs: Any) -> Any:
            label = f"dynamodb.{name}({_key_label(kwargs)})"
            try:
                result = attr(**kwargs)
            except Exception:
                self.faults.point(label + " [condition failed]")
                raise
            self.faults.point(label)
            return result

        return write


def _key_label(kwargs: dict[str, Any]) -> str:
    def one(body: dict[str, Any]) -> str:
        key = body.get("Key") or body.get("Item") or {}
        return "/".join(str(next(iter(key[k].values()))) for k in ("PK", "SK") if k in key)

    if "TransactItems" in kwargs:
        return " + ".join(one(next(iter(a.values()))) for a in kwargs["TransactItems"])
    return one(kwargs)


# -- durable data that outlives the resolver process -----------------------------------------------


class SqliteBackend:
    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._open: list[Any] = []

    def open(self, faults: Faults) -> Any:
        from lambda_resolver.stores.sqlite import SqliteStore

        # A process crash (not a power cut) loses nothing the OS already has: no fsync needed.
        store = SqliteStore(self.path, synchronous="OFF")
        self._open.append(store)
        return store

    def close(self) -> None:
        for store in self._open:
            store.close()
        self._open.clear()


class DynamoBackend:
    """``client_faults``: also crash between the DynamoDB requests inside one store call."""

    name = "dynamodb"

    def __init__(self, table: str, *, client_faults: bool = False) -> None:
        self.table = table
        self.client_faults = client_faults

    def open(self, faults: Faults) -> Any:
        import boto3

        from lambda_resolver.stores.dynamodb import DynamoStore

        client: Any = boto3.client("dynamodb", region_name="us-east-1")
        if self.client_faults:
            client = CrashingClient(client, faults)
        return DynamoStore(self.table, client=client)

    def close(self) -> None:
        return None
