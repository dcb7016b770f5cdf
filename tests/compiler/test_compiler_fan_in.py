"""Wide fan-in: every task of a layer depending on every task of the one before (bench/scale.py's
shape). Repeated depends_on entries collapse to one, in the order they were first written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lambda_resolver.compiler import compile_flows, load_bundle
from lambda_resolver.core.manifest import Dependency

WIDTH = 200


def test_a_full_fan_in_between_two_wide_layers_compiles(make_bundle: Callable[..., Path]) -> None:
    job = "run_job_task: {job_id: '${resources.jobs.work.id}'}"
    lines = ["resources:", "  jobs:", "    wide:", "      tags: {lakehook: flow}", "      tasks:"]
    for j in range(WIDTH):
        lines += [f"        - task_key: a{j}", f"          {job}"]
    deps = ", ".join(f"{{task_key: a{j}}}" for j in reversed(range(WIDTH)))
    for j in range(WIDTH):
        lines += [f"        - task_key: b{j}", f"          depends_on: [{deps}]", f"          {job}"]
    root = make_bundle({"bundles/wide.yml": "\n".join(lines) + "\n"}, children=("work",))

    m = compile_flows(load_bundle(root, environ={}))["wide"]

    assert len(m.tasks) == 2 * WIDTH
    assert [d.task_key for d in m.task("b7").depends_on] == [f"a{j}" for j in reversed(range(WIDTH))]
    assert m.children("a0") == tuple(f"b{j}" for j in range(WIDTH))


def test_repeated_dependencies_collapse_in_first_written_order(make_bundle: Callable[..., Path]) -> None:
    flow = """\
    resources:
      jobs:
        f:
          tags: {lakehook: flow}
          tasks:
            - task_key: x
              run_job_task: {job_id: "${resources.jobs.work.id}"}
            - task_key: y
              run_job_task: {job_id: "${resources.jobs.work.id}"}
            - task_key: z
              depends_on: [{task_key: y}, {task_key: x}, {task_key: y}, {task_key: x}]
              run_job_task: {job_id: "${resources.jobs.work.id}"}
    """
    root = make_bundle({"bundles/f.yml": flow}, children=("work",))

    m = compile_flows(load_bundle(root, environ={}))["f"]

    assert m.task("z").depends_on == (Dependency("y"), Dependency("x"))
