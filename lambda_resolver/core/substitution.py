"""Reference substitution at trigger time, against the run's own state.

``{{job.parameters.x}}`` → the flow run's parameter; ``{{tasks.k.values.v}}`` → key ``v`` of
upstream task ``k``'s value (an object); ``{{tasks.k.value}}`` → the whole value as JSON;
``{{tasks.k.result_state}}`` → e.g. ``success`` (lower case, as Databricks writes it);
``{{job.run_id}}`` → the flow run id. Reads only the tasks a template names: O(references).
"""

from __future__ import annotations

import json

from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.core.models import Run, Task
from lambda_resolver.core.references import Reference, substitute
from lambda_resolver.core.store import Store


class ReferenceResolver:
    def __init__(self, store: Store, run: Run, manifest: FlowManifest) -> None:
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
