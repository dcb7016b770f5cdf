"""Reference substitution at trigger time, against the run's own state.

``{{job.parameters.x}}`` → the flow run's parameter; ``{{tasks.k.values.v}}`` → key ``v`` of
upstream task ``k``'s value (an object); ``{{tasks.k.value}}`` → the whole value as JSON;
``{{tasks.k.result_state}}`` → e.g. ``success`` (lower case, as Databricks writes it);
``{{job.run_id}}`` → the flow run id; ``{{job.trigger.type}}`` and ``{{job.trigger.time.<arg>}}``
→ from the run's trigger (see :func:`trigger_time_ms`); ``{{job.repair_count}}`` → how often the
run was repaired. Reads only the tasks a template names: O(references).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.core.models import JSON, Run, Task, TriggerType
from lambda_resolver.core.references import Reference, substitute
from lambda_resolver.core.store import Store

_NO_INPUT = object()


class ReferenceResolver:
    def __init__(
        self, store: Store, run: Run, manifest: FlowManifest, *, iteration_input: JSON = _NO_INPUT
    ) -> None:
        """``iteration_input``: the input of the for_each iteration being started (``{{input}}``)."""
        self._input = iteration_input
        self._store = store
        self._run = run
        self._manifest = manifest
        self._tasks: dict[str, Task] = {}

    def substitute(self, template: str) -> str:
        """``template`` with every reference replaced. ValueError says which one failed and why."""
        return substitute(template, self._resolve)

    def _task(self, key: str) -> Task:
        if key not in self._tasks:
            t = self._store.get_task(self._run.run_id, key)
            if t is None:
                raise ValueError(f"task '{key}' is not part of run {self._run.run_id}")
            self._tasks[key] = t
        return self._tasks[key]

    def _resolve(self, ref: Reference) -> str:
        if ref.kind == "job_param":
            assert ref.name is not None
            if ref.name not in self._run.params:
                raise ValueError(f"{ref.raw}: the run has no parameter '{ref.name}'")
            return str(self._run.params[ref.name])
        if ref.kind == "job_run_id":
            return self._run.run_id
        if ref.kind == "trigger_type":
            return trigger_type_value(self._run)
        if ref.kind == "trigger_time":
            assert ref.name is not None
            return time_value(ref.name, trigger_time_ms(self._run))
        if ref.kind == "job_repair_count":
            return str(self._run.repair_count)
        if ref.kind == "iteration_input":
            return self._iteration_input(ref)
        assert ref.task_key is not None
        task = self._task(ref.task_key)
        if ref.kind == "task_result_state":
            return task.state.value.lower()
        if not task.state.terminal:
            raise ValueError(f"{ref.raw}: task '{ref.task_key}' has not finished")
        if ref.kind == "task_value":
            return json.dumps(task.value, separators=(",", ":"), ensure_ascii=False)
        value = task.value
        if not isinstance(value, dict) or ref.name not in value:
            shape = "an object without that key" if isinstance(value, dict) else type(value).__name__
            raise ValueError(
                f"{ref.raw}: task '{ref.task_key}' finished with {shape}; "
                f"call notify_done({{'{ref.name}': ...}}) in it"
            )
        v = value[ref.name]
        return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"), ensure_ascii=False)

    def _iteration_input(self, ref: Reference) -> str:
        """``{{input}}``: a string input as it is, anything else as compact JSON; ``{{input.f}}``:
        field ``f`` of an object input, the same way."""
        if self._input is _NO_INPUT:
            raise ValueError(f"{ref.raw}: only a for_each_task's nested task has an input")
        value = self._input
        if ref.name is not None:
            if not isinstance(value, dict) or ref.name not in value:
                raise ValueError(f"{ref.raw}: the input {_json(value)[:200]} has no field '{ref.name}'")
            value = value[ref.name]
        return value if isinstance(value, str) else _json(value)


def _json(value: JSON) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def trigger_type_value(run: Run) -> str:
    """``{{job.trigger.type}}`` as Databricks writes it: ``periodic`` (scheduled) or ``onetime``."""
    return "onetime" if run.trigger.type is TriggerType.MANUAL else "periodic"


def trigger_time_ms(run: Run) -> int:
    """The time ``{{job.trigger.time.*}}`` shows (epoch ms): the slot of a scheduled run, rounded
    down to the minute for a cron schedule (as Databricks does); a manual run's start."""
    slot = run.trigger.slot
    if run.trigger.type is TriggerType.MANUAL or slot is None:
        return run.created_at
    if run.trigger.type is TriggerType.SCHEDULE:
        return slot - slot % 60_000
    return slot


def time_value(argument: str, ms: int) -> str:
    """One ``{{job.trigger.time.<argument>}}`` value of the UTC time ``ms`` (epoch milliseconds)."""
    t = datetime.fromtimestamp(ms // 1000, tz=timezone.utc)
    values = {
        "iso_date": t.strftime("%Y-%m-%d"),
        "iso_datetime": t.strftime("%Y-%m-%dT%H:%M:%S"),
        "iso_weekday": str(t.isoweekday()),  # 1 = Monday … 7 = Sunday (ISO, unlike Quartz)
        "is_weekday": "true" if t.isoweekday() <= 5 else "false",
        "year": str(t.year),
        "month": str(t.month),
        "day": str(t.day),
        "hour": str(t.hour),
        "minute": str(t.minute),
        "second": str(t.second),
        "timestamp_ms": str(ms),
    }
    return values[argument]
