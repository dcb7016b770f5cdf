"""A flow's for_each_task compiles with Databricks' syntax and limits, and every misuse is a clear,
located error."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from lambda_resolver.compiler import compile_bundle, validate_bundle
from lambda_resolver.core.manifest import FlowManifest, TaskKind

FLOW = """\
resources:
  jobs:
    flow:
      name: flow
      tags: {{lakehook: flow}}
      parameters: [{{name: day, default: "2026-12-07"}}]
      tasks:
        - task_key: list
          run_job_task: {{job_id: "${{resources.jobs.work.id}}"}}
        - task_key: fan
          depends_on: [{{task_key: list}}]
{fan}
"""

GOOD = """\
          for_each_task:
            inputs: {inputs}
            concurrency: 20
            task:
              task_key: fan_iteration
              max_retries: 2
              min_retry_interval_millis: 1000
              retry_on_timeout: true
              timeout_seconds: 60
              run_job_task:
                job_id: "${{resources.jobs.work.id}}"
                job_parameters: {{table: "{{{{input.name}}}}", day: "{{{{job.parameters.day}}}}"}}
"""


def compile_fan(make_bundle: Callable[..., Path], fan: str) -> FlowManifest:
    root = make_bundle({"bundles/flow.yml": FLOW.format(fan=fan)}, children=("work",))
    return compile_bundle(root, environ={})["flow"]


def problems(make_bundle: Callable[..., Path], fan: str) -> list[str]:
    root = make_bundle({"bundles/flow.yml": FLOW.format(fan=fan)}, children=("work",))
    return [f"{p.code}: {p.message}" for p in validate_bundle(root, environ={}) if p.severity == "error"]


@pytest.mark.parametrize(
    ("inputs", "stored"),
    [
        ("[{name: a}, {name: b}]", '[{"name":"a"},{"name":"b"}]'),  # a YAML list
        ('\'[{"name": "a"}]\'', '[{"name": "a"}]'),  # JSON text, as the Jobs API takes it
        ('"{{tasks.list.values.tables}}"', "{{tasks.list.values.tables}}"),  # an upstream value
    ],
)
def test_a_for_each_task_compiles_with_its_nested_job_task(
    make_bundle: Callable[..., Path], inputs: str, stored: str
) -> None:
    m = compile_fan(make_bundle, GOOD.format(inputs=inputs))
    fan = m.task("fan")
    assert fan.kind is TaskKind.FOR_EACH and fan.for_each is not None
    assert fan.for_each.inputs == stored and fan.for_each.concurrency == 20
    nested = fan.for_each.task
    assert (nested.kind, nested.job_key) == (TaskKind.JOB, "work")
    assert nested.parameters == {"table": "{{input.name}}", "day": "{{job.parameters.day}}"}
    assert (
        nested.max_retries,
        nested.min_retry_interval_ms,
        nested.retry_on_timeout,
        nested.timeout_seconds,
    ) == (
        2,
        1000,
        True,
        60,
    )
    assert FlowManifest.from_dict(json.loads(json.dumps(m.to_dict()))) == m  # it survives publishing


def test_concurrency_defaults_to_one(make_bundle: Callable[..., Path]) -> None:
    fan = GOOD.format(inputs="[1, 2]").replace("            concurrency: 20\n", "")
    spec = compile_fan(make_bundle, fan).task("fan")
    assert spec.for_each is not None and spec.for_each.concurrency == 1


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (("concurrency: 20", "concurrency: 101"), "at most 100 iterations at once"),
        (("concurrency: 20", "concurrency: 0"), "concurrency must be at least 1"),
        (("inputs: [1]", "inputs: '{\"a\": 1}'"), "inputs must be a JSON array, not dict"),
        (("inputs: [1]", "inputs: 'not json'"), "inputs is not a JSON array"),
        (("inputs: [1]", "inputs: 'x {{tasks.list.value}}'"), "exactly one reference"),
        (
            ("inputs: [1]", 'inputs: "{{tasks.nope.value}}"'),
            "has no task 'nope'",
        ),
        (
            (
                "run_job_task:\n                job_id",
                "notebook_task: {notebook_path: x.py}\n              x:\n                job_id",
            ),
            "nested task has notebook_task",
        ),
        (('table: "{{input.name}}"', 'table: "{{input.name}}", other: "{{tasks.fan.value}}"'), "own value"),
    ],
)
def test_misuse_is_a_located_error_that_says_what_to_fix(
    make_bundle: Callable[..., Path], change: tuple[str, str], says: str
) -> None:
    fan = GOOD.format(inputs="[1]").replace(*change)
    found = problems(make_bundle, fan)
    assert any(says in p for p in found), found


def test_too_many_inputs_are_refused(make_bundle: Callable[..., Path]) -> None:
    found = problems(make_bundle, GOOD.format(inputs=json.dumps(list(range(5001)))))
    assert any("5001 elements" in p and "at most 5000" in p for p in found), found


def test_inputs_over_256_kib_are_refused(make_bundle: Callable[..., Path]) -> None:
    found = problems(make_bundle, GOOD.format(inputs=json.dumps(["x" * 3000] * 100)))
    assert any("at most 262144" in p and "table names or paths" in p for p in found), found


def test_inputs_from_a_task_that_is_not_upstream_are_refused(make_bundle: Callable[..., Path]) -> None:
    fan = GOOD.format(inputs='"{{tasks.later.values.x}}"')
    flow = (
        FLOW.format(fan=fan)
        + '        - task_key: later\n          run_job_task: {job_id: "${resources.jobs.work.id}"}\n'
    )
    root = make_bundle({"bundles/flow.yml": flow}, children=("work",))
    found = [p.message for p in validate_bundle(root, environ={}) if p.severity == "error"]
    assert any("'later' is not upstream of 'fan'" in p for p in found), found


def test_input_outside_a_for_each_is_an_error(make_bundle: Callable[..., Path]) -> None:
    plain = """\
          run_job_task:
            job_id: "${resources.jobs.work.id}"
            job_parameters: {x: "{{input}}"}
"""
    found = problems(make_bundle, plain)
    assert any("only a for_each_task's nested task has an input" in p for p in found), found
