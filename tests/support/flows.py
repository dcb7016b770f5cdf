"""Builders for flow manifests in tests, without going through a bundle."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lambda_resolver.core.manifest import (
    Condition,
    ConditionOp,
    Dependency,
    FlowManifest,
    ForEach,
    JobRef,
    RunIf,
    TaskKind,
    TaskSpec,
)


def job_task(
    key: str,
    deps: Iterable[str | tuple[str, str]] = (),
    *,
    run_if: str = "ALL_SUCCESS",
    params: Mapping[str, str] | None = None,
    **kw: Any,
) -> TaskSpec:
    return TaskSpec(
        key=key,
        kind=TaskKind.JOB,
        depends_on=tuple(Dependency(*d) if isinstance(d, tuple) else Dependency(d) for d in deps),
        run_if=RunIf(run_if),
        job_key=f"job_{key}",
        job_parameters=tuple((params or {}).items()),
        **kw,
    )


def external_task(key: str, deps: Iterable[str] = (), **kw: Any) -> TaskSpec:
    return TaskSpec(
        key=key,
        kind=TaskKind.EXTERNAL,
        depends_on=tuple(Dependency(d) for d in deps),
        job_key=f"job_{key}",
        **kw,
    )


def condition_task(key: str, deps: Iterable[str], op: str, left: str, right: str, **kw: Any) -> TaskSpec:
    return TaskSpec(
        key=key,
        kind=TaskKind.CONDITION,
        depends_on=tuple(Dependency(d) for d in deps),
        condition=Condition(ConditionOp(op), left, right),
        **kw,
    )


def for_each_task(
    key: str,
    inputs: str,
    deps: Iterable[str] = (),
    *,
    concurrency: int = 1,
    params: Mapping[str, str] | None = None,
    **nested: Any,
) -> TaskSpec:
    """A for_each task over ``inputs`` whose nested task runs ``job_<key>`` with ``params``;
    ``nested`` holds the nested task's retry and timeout settings."""
    inner = TaskSpec(
        key=f"{key}_iteration",
        kind=TaskKind.JOB,
        job_key=f"job_{key}",
        job_parameters=tuple((params or {"item": "{{input}}"}).items()),
        **nested,
    )
    return TaskSpec(
        key=key,
        kind=TaskKind.FOR_EACH,
        depends_on=tuple(Dependency(d) for d in deps),
        for_each=ForEach(inputs, concurrency, inner),
    )


def _job_key(t: TaskSpec) -> str | None:
    return t.for_each.task.job_key if t.for_each is not None else t.job_key


def flow(
    name: str,
    tasks: Iterable[TaskSpec],
    *,
    params: Mapping[str, str] | None = None,
    job_ids: bool = True,
    **kw: Any,
) -> FlowManifest:
    tasks = tuple(tasks)
    jobs = tuple(
        JobRef(key, key, (1 + i) if job_ids else None, t.kind is TaskKind.EXTERNAL)
        for i, t in enumerate(tasks)
        if (key := _job_key(t))
    )
    return FlowManifest(name=name, tasks=tasks, jobs=jobs, parameters=tuple((params or {}).items()), **kw)


def chain(name: str, n: int) -> FlowManifest:
    return flow(name, [job_task(f"t{i}", [f"t{i - 1}"] if i else []) for i in range(n)])


def demo_flow(name: str, *, retry_ms: int) -> FlowManifest:
    """The demo's shape, ``a ∥ b → c → d``: c takes a's and b's values and has one retry after
    ``retry_ms``; d takes c's total. Job ids are 1..4 in task order."""
    return flow(
        name,
        [
            job_task("a"),
            job_task("b"),
            job_task(
                "c",
                ["a", "b"],
                params={"rows_a": "{{tasks.a.values.rows}}", "rows_b": "{{tasks.b.values.rows}}"},
                max_retries=1,
                min_retry_interval_ms=retry_ms,
            ),
            job_task("d", ["c"], params={"total": "{{tasks.c.values.total}}"}),
        ],
    )
