"""A ``condition_task``: evaluated by the resolver itself, as Databricks evaluates it.

Its value is ``{"outcome": "true"|"false", "left": ..., "right": ...}``; the outcome gates the
``depends_on: {outcome: ...}`` edges of its dependents.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lambda_resolver.core import task_machine as tm
from lambda_resolver.core.manifest import TaskKind
from lambda_resolver.core.models import JSON, Promise, PromiseState
from lambda_resolver.core.substitution import ReferenceResolver

if TYPE_CHECKING:
    from lambda_resolver.core.advance import Advancer, Next
    from lambda_resolver.core.kinds import Attempt
    from lambda_resolver.core.manifest import TaskSpec
    from lambda_resolver.core.models import Task


class Condition:
    name = TaskKind.CONDITION
    needs_job = False
    needs_job_id = False
    label = "condition"
    waits_outside = False
    decision = True
    finishes_with_settle = True

    def start(self, adv: Advancer, a: Attempt) -> Next:
        spec, t = a.spec, a.task
        assert spec.condition is not None
        c = spec.condition
        resolver = ReferenceResolver(adv.ctx.store, a.run, a.manifest)
        try:
            left, right = resolver.substitute(c.left), resolver.substitute(c.right)
            result = tm.evaluate_condition(c.op, left, right)
        except ValueError as exc:
            error = adv.error("ConditionError", str(exc), retryable=False)  # same operands next time
            return adv.settle_self(spec, t, PromiseState.REJECTED, error=error)
        value = {"outcome": "true" if result else "false", "left": left, "right": right}
        return adv.settle_self(spec, t, PromiseState.RESOLVED, value=value)

    def before_finish(self, adv: Advancer, a: Attempt) -> Promise:
        return a.promise

    def outcome(self, value: JSON) -> str | None:
        return value.get("outcome") if isinstance(value, dict) else None

    def after_finish(self, adv: Advancer, spec: TaskSpec, t: Task, p: Promise) -> None:
        return None


KIND = Condition()
