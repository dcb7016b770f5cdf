"""An external task: a ``run_job_task`` on a job tagged ``lakehook: external``.

Nothing starts: the attempt's promise waits for an outside settle — an approval gate, another
system — through the callback door or the operator's ``lakehook resolve``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lambda_resolver.core.manifest import TaskKind
from lambda_resolver.core.models import JSON, Promise

if TYPE_CHECKING:
    from lambda_resolver.core.advance import Advancer, Next
    from lambda_resolver.core.kinds import Attempt
    from lambda_resolver.core.manifest import TaskSpec
    from lambda_resolver.core.models import Task


class External:
    name = TaskKind.EXTERNAL
    needs_job = True
    needs_job_id = False  # never started: it may point at a job that is not deployed
    label = "external"
    waits_outside = True
    decision = False
    finishes_with_settle = True

    def start(self, adv: Advancer, a: Attempt) -> Next:
        return adv.mark_running(a.task, a.promise, None, None)

    def before_finish(self, adv: Advancer, a: Attempt) -> Promise:
        return a.promise

    def outcome(self, value: JSON) -> str | None:
        return None

    def after_finish(self, adv: Advancer, spec: TaskSpec, t: Task, p: Promise) -> None:
        return None


KIND = External()
