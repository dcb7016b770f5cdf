"""Completion notifications: delivered at once, retried with back-off, never lost to a failure."""

from __future__ import annotations

from dataclasses import dataclass, field

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
