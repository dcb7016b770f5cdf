"""Wide fan-outs in bounded pieces: one invocation delivers at most ``fanout_inline`` children.

A finished task's outcome goes to its children in *chunks* of ``Settings.fanout_inline``, one
after another — a sequential chain (docs/reliability.md, "Wide fan-outs"):

1. the invocation that finished the task delivers the first chunk: each child's edge, and the
   claim (or skip) of each child it made ready, side by side (``fanout_workers`` at a time);
2. once every edge and claim of its chunk is written, it hands the next chunk, ``(run, task,
   offset)``, to another invocation (``ctx.handoff``: on AWS an asynchronous invoke of the function
   itself, locally a worker thread), then starts the children it claimed;
3. the invocation of the last chunk counts the task off (``complete_propagation``).

So a task counts as propagated only after every child's edge was delivered, whatever crashed in
between: a chunk is handed on only after its own chunk's writes, and until the last one the task
stays finished, unpropagated and due. A hand-off lost (a crash, a dropped event) leaves it due:
after ``propagate_grace_ms`` the reconciler drives it again, which starts the chain again from the
first chunk — the same bounded pieces, never the whole out-degree at once. Delivering an edge
again changes nothing and a claim is conditional, so a chunk delivered twice starts nothing twice.
Without a hand-off wired (``ctx.handoff`` None: embedded engines, most tests) the chunks run one
after another in the same call.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NamedTuple

from lambda_resolver.core.context import log
from lambda_resolver.core.errors import StoreConflict

if TYPE_CHECKING:
    from lambda_resolver.core.advance import Advancer, Next, Started
    from lambda_resolver.core.manifest import FlowManifest
    from lambda_resolver.core.models import Run, Task


class Chunk(NamedTuple):
    """The children of ``task_key`` from ``offset`` on, handed to another invocation.
    ``finished_at``: the task's ``settled_at`` when its chain began, so a chunk of an earlier
    finish (the task repaired and finished again since) is stale, not part of the new chain.
    (A NamedTuple: it is built at import on the callback path, and a dataclass costs ~1 ms.)"""

    run_id: str
    task_key: str
    offset: int
    finished_at: int | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"run_id": self.run_id, "task_key": self.task_key, "offset": self.offset}
        if self.finished_at is not None:
            doc["finished_at"] = self.finished_at
        return doc

    @classmethod
    def from_json(cls, doc: Any) -> Chunk:
        """A chunk from its JSON form; ValueError says what is wrong with it."""
        if (
            not isinstance(doc, Mapping)
            or not isinstance(doc.get("run_id"), str)
            or not isinstance(doc.get("task_key"), str)
            or not _whole(doc.get("offset"))
            or doc["offset"] < 1
            or not (doc.get("finished_at") is None or _whole(doc["finished_at"]))
        ):
            raise ValueError(
                "a fan-out chunk is {run_id: str, task_key: str, offset: int >= 1, finished_at?: int}"
            )
        return cls(doc["run_id"], doc["task_key"], doc["offset"], doc.get("finished_at"))


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: Hands a chunk to another invocation, without waiting for it.
Handoff = Callable[[Chunk], None]


def propagate(adv: Advancer, run: Run, manifest: FlowManifest, t: Task, offset: int = 0) -> tuple[Next, bool]:
    """Deliver ``t``'s outcome to its children from ``offset`` on, at most ``fanout_inline`` of
    them here, and hand the rest on. Returns the tasks the caller's loop steps next (the children
    claimed, when they are not started here) and whether this was the last chunk: only then may
    the caller count ``t`` off."""
    ctx = adv.ctx
    children = manifest.children(t.key)
    size = max(1, ctx.settings.fanout_inline)
    if ctx.handoff is None:
        size = max(size, len(children) - offset)  # nowhere to hand on: every chunk here, in turn
    mine = children[offset : offset + size]
    after = offset + size if offset + size < len(children) else None
    ready = _side_by_side(adv, run, manifest, t, mine, then=lambda: _hand_on(adv, t, after))
    return ready, after is None


def resume(adv: Advancer, chunk: Chunk) -> str:
    """Deliver a chunk handed on by another invocation (the door of ``ctx.handoff``); the last
    chunk counts the task off. Says what it did: ``delivered``, ``completed`` or ``stale``."""
    ctx = adv.ctx
    run = ctx.store.get_run(chunk.run_id)
    t = ctx.store.get_task(chunk.run_id, chunk.task_key)
    if run is None or t is None or not t.state.terminal or t.propagated or t.settled_at != chunk.finished_at:
        return "stale"  # gone, repaired (and maybe finished again) since, or counted off by another chain
    manifest = ctx.manifest(run.flow, run.flow_version)
    if chunk.offset >= len(manifest.children(t.key)):
        return "stale"
    ready, last = propagate(adv, run, manifest, t, chunk.offset)
    adv.run_loop(run, manifest, ready)
    if not last:
        return "delivered"
    adv.count_off(run, manifest, t)
    return "completed"


def each_side_by_side(adv: Advancer, work: Callable[[Any], None], items: Sequence[Any]) -> None:
    """Run ``work`` for each item, at most ``fanout_workers`` at a time (e.g. a for_each task's
    claimed iterations, each its own run-now). An error in one does not stop the others; the
    first is raised once all are done."""
    workers = min(adv.ctx.settings.fanout_workers, len(items))
    with ThreadPoolExecutor(max_workers=max(workers, 1), thread_name_prefix="lakehook-fanout") as pool:
        futures = [pool.submit(work, item) for item in items]
    for future in futures:
        future.result()


def _side_by_side(
    adv: Advancer,
    run: Run,
    manifest: FlowManifest,
    t: Task,
    children: Sequence[str],
    *,
    then: Callable[[], None],
) -> Next:
    """Deliver (and claim) each child, call ``then`` once all of those writes are done, and start
    the claimed children. Side by side (at most ``fanout_workers`` at a time) each child's delivery
    and claim, then its start, are tasks of one pool, so a wide chunk waits for its slowest child,
    not for all in turn; one after another the claimed children are returned for the caller's loop
    to start. Side by side, the started children are marked RUNNING once every one of them has
    had its run-now (``Started``), so the last run-now does not wait behind the others' marks. An
    error in one child does not stop the others; the first is raised once all are done (the
    marks written first), and ``then`` is not called."""
    workers = min(adv.ctx.settings.fanout_workers, len(children))
    if workers <= 1:
        ready: Next = []
        for child in children:
            ready.extend(adv.deliver(run, manifest, t, child))
        then()
        return ready
    latch = _Latch(len(children))
    starts: list[Future[None]] = []
    marks: list[Started] = []

    def one(child: str) -> None:
        try:
            ready = adv.deliver(run, manifest, t, child)
        except BaseException:
            latch.count(ok=False)
            raise
        # Its start queues behind the chunk's other deliveries: the claims come first, so the
        # next chunk is handed on early and its invocation overlaps this one's starts.
        starts.append(pool.submit(adv.run_loop, run, manifest, ready, marks))
        latch.count(ok=True)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lakehook-fanout") as pool:
        deliveries = [pool.submit(one, child) for child in children]
        if latch.wait():
            then()  # the children's starts go on meanwhile
    errors = [future.exception() for future in [*deliveries, *starts]]
    each_side_by_side(adv, lambda mark: adv.run_loop(run, manifest, [mark]), marks)
    for error in errors:
        if error is not None:
            raise error
    return []


class _Latch:
    """Counts the chunk's deliveries down; ``wait`` says whether every one of them succeeded."""

    def __init__(self, n: int) -> None:
        self._left, self._ok = n, True
        self._cond = threading.Condition()

    def count(self, *, ok: bool) -> None:
        with self._cond:
            self._left -= 1
            self._ok = self._ok and ok
            self._cond.notify_all()

    def wait(self) -> bool:
        with self._cond:
            self._cond.wait_for(lambda: self._left <= 0)
            return self._ok


def _hand_on(adv: Advancer, t: Task, offset: int | None) -> None:
    """Hand the chunk at ``offset`` to another invocation, after keeping ``t`` due a grace
    period from now (so a reconciler pass does not start the chain again while it runs). A
    hand-off that fails is logged: ``t`` stays due, and the reconciler finishes the fan-out."""
    ctx = adv.ctx
    if offset is None:
        return
    assert ctx.handoff is not None
    now, grace = ctx.now(), ctx.settings.propagate_grace_ms
    if t.due_at is None or t.due_at < now + grace // 2:
        try:
            ctx.writes.set_task_fields(
                t.run_id, t.key, {"due_at": now + grace}, while_in=t.state, attempt=t.attempt
            )
        except StoreConflict:
            return  # repaired meanwhile: this chain has nothing left to deliver
    chunk = Chunk(t.run_id, t.key, offset, t.settled_at)
    try:
        ctx.handoff(chunk)
    except Exception:  # noqa: BLE001 - the task stays due: the reconciler starts the chain again
        log.warning("could not hand on fan-out chunk %s; the reconciler finishes it", chunk)
    else:
        ctx.event("fanout_handed_on", chunk.to_json())


class FanoutWorker:
    """Delivers handed-on chunks on a background thread (``lakehook dev``, embedded resolvers).

    It is a hand-off (``ctx.handoff = FanoutWorker(engine.advancer)``); a call never blocks: when
    the queue is full the chunk is dropped, and its task, still due, is the reconciler's.
    """

    def __init__(self, adv: Advancer, *, capacity: int = 1000) -> None:
        self.adv = adv
        self._queue: queue.Queue[Chunk | None] = queue.Queue(capacity)
        self._thread = threading.Thread(target=self._loop, name="lakehook-fanout-chunks", daemon=True)
        self._thread.start()

    def __call__(self, chunk: Chunk) -> None:
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(chunk)

    def _loop(self) -> None:
        while (chunk := self._queue.get()) is not None:
            try:
                resume(self.adv, chunk)
            except Exception:  # noqa: BLE001 - the worker outlives one bad chunk; its task stays due
                log.exception("fan-out chunk %s failed", chunk)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop after the chunk in progress; what is still queued is left to the reconciler."""
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        self._thread.join(timeout_s)
