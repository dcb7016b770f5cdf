"""Completion notifications: handed to a worker at once, retried with back-off, never lost to a
failure. ``h.ctx.dispatch`` here sends synchronously, as a worker would, so the tests can count."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from lambda_resolver.core import notifications
from lambda_resolver.core.models import PromiseState, RunState

from support.flows import flow, job_task
from support.harness import Harness


@dataclass
class FlakyNotifier:
    fail_first: int = 0
    calls: list[tuple[str, str, str]] = field(default_factory=list)

    def notify(self, kind: str, record_id: str, url: str) -> bool:
        self.calls.append((kind, record_id, url))
        if len(self.calls) <= self.fail_first:
            if len(self.calls) == 1:
                raise ConnectionError("receiver down")  # an exception counts as a failed attempt
            return False
        return True

    def refusal(self, url: str) -> str | None:
        return None


@pytest.fixture(autouse=True)
def worker(h: Harness) -> None:
    h.ctx.dispatch = lambda kind, record_id, attempt: (
        notifications.send(h.ctx, kind, record_id, attempt) and None
    )


def test_a_finished_run_is_notified_once_at_once(h: Harness) -> None:
    notifier = FlakyNotifier()
    h.ctx.notifier = notifier
    h.publish(flow("f", [job_task("a")]))
    run = h.start("f", notify_url="https://backend.example/hooks/lakehook")
    h.succeed(run, "a")
    assert notifier.calls == [("run", run.run_id, "https://backend.example/hooks/lakehook")]
    assert h.run(run).notified_at is not None and h.run(run).due_at is None
    h.advance(3_600_000)
    assert len(notifier.calls) == 1


def test_a_failed_notification_is_retried_with_back_off_until_accepted(h: Harness) -> None:
    notifier = FlakyNotifier(fail_first=3)
    h.ctx.notifier = notifier
    h.publish(flow("f", [job_task("a")]))
    run = h.start("f", notify_url="https://backend.example/hook")
    h.fail(run, "a")
    assert h.run(run).state is RunState.FAILED and len(notifier.calls) == 1
    h.advance(29_000)
    assert len(notifier.calls) == 1  # first retry after 30 s
    h.advance(1_000)
    assert len(notifier.calls) == 2
    h.advance(60_000)  # then 60 s
    assert len(notifier.calls) == 3
    h.advance(120_000)  # then 120 s: accepted
    assert len(notifier.calls) == 4 and h.run(run).notified_at is not None
    h.advance(3_600_000)
    assert len(notifier.calls) == 4


def test_notifications_give_up_after_the_maximum_attempts(h: Harness) -> None:
    notifier = FlakyNotifier(fail_first=1000)
    h.ctx.notifier = notifier
    h.publish(flow("f", [job_task("a")]))
    run = h.start("f", notify_url="https://backend.example/hook")
    h.succeed(run, "a")
    for _ in range(30):
        h.advance(3_600_000)
    assert len(notifier.calls) == h.settings.notify_max_attempts
    assert h.run(run).due_at is None and h.run(run).notified_at is None


def test_a_settled_standalone_promise_is_notified(h: Harness) -> None:
    notifier = FlakyNotifier(fail_first=1)
    h.ctx.notifier = notifier
    h.engine.standalone.create("order-1", timeout_s=60, notify_url="https://backend.example/p")
    h.engine.settle("order-1", PromiseState.RESOLVED, value={"ok": True})
    assert notifier.calls == [("promise", "order-1", "https://backend.example/p")]
    h.advance(30_000)
    assert len(notifier.calls) == 2
    assert h.engine.get_promise("order-1").notified_at is not None


def test_without_a_worker_the_reconciler_sends_on_its_next_pass(h: Harness) -> None:
    notifier = FlakyNotifier()
    h.ctx.notifier, h.ctx.dispatch = notifier, None
    h.engine.standalone.create("order-2", timeout_s=60, notify_url="https://backend.example/p")
    h.engine.settle("order-2", PromiseState.RESOLVED, value=1)
    assert notifier.calls == []  # the settle did not deliver
    h.advance(0)
    assert notifier.calls == [("promise", "order-2", "https://backend.example/p")]
    assert h.engine.get_promise("order-2").notified_at is not None


def test_an_attempt_is_counted_before_it_is_sent(h: Harness) -> None:
    """A crash (or a hang) in the middle of a send still counts: attempt and next due time are
    in the store when the receiver is called."""
    seen: list[tuple[int, int | None]] = []

    class Recording(FlakyNotifier):
        def notify(self, kind: str, record_id: str, url: str) -> bool:
            p = h.store.get_promise(record_id)
            assert p is not None
            seen.append((p.notify_attempts, p.due_at))
            return False

    h.ctx.notifier = Recording()
    h.engine.standalone.create("order-3", timeout_s=60, notify_url="https://backend.example/p")
    h.engine.settle("order-3", PromiseState.RESOLVED, value=1)
    assert seen == [(1, h.clock.now() + h.settings.notify_backoff_ms)]
