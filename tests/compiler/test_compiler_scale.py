"""A 10,000-task flow compiles: nothing in the compiler is quadratic in the number of tasks."""

from __future__ import annotations

import time
from pathlib import Path

from lambda_resolver.compiler import compile_flows, load_bundle

N = 10_000


def write_big_bundle(root: Path) -> None:
    lines = [
        "resources:",
        "  jobs:",
        "    big:",
        "      tags: {lakehook: flow}",
        "      parameters: [{name: day, default: ''}]",
        "      tasks:",
    ]
    for i in range(N):
        lines.append(f"        - task_key: t{i}")
        deps = sorted({j for j in (i - 1, i - 7, i // 2) if 0 <= j < i})
        if deps:
            lines.append("          depends_on: [" + ", ".join(f"{{task_key: t{j}}}" for j in deps) + "]")
        lines.append("          run_job_task:")
        lines.append("            job_id: ${resources.jobs.child.id}")
        if i:  # t0 is upstream of everything: a reachability check per task
            lines.append(
                f"            job_parameters: {{rows: '{{{{tasks.t{i // 2}.values.rows}}}}', "
                "first: '{{tasks.t0.value}}', day: '{{job.parameters.day}}'}"
            )
    (root / "bundles").mkdir()
    (root / "bundles" / "big.yml").write_text("\n".join(lines) + "\n")
    (root / "bundles" / "child.yml").write_text(
        "resources:\n  jobs:\n    child:\n      parameters: [{name: lakehook, default: ''}]\n"
        "      tasks: [{task_key: main, notebook_task: {notebook_path: ../src/x.py}}]\n"
    )
    (root / "databricks.yml").write_text("bundle: {name: big}\ninclude: [bundles/*.yml]\n")


def test_a_ten_thousand_task_flow_compiles(tmp_path: Path) -> None:
    write_big_bundle(tmp_path)

    started = time.perf_counter()
    bundle = load_bundle(tmp_path, environ={})
    loaded = time.perf_counter()
    flows = compile_flows(bundle)
    compiled = time.perf_counter()
    print(f"\n{N} tasks: load {loaded - started:.2f}s, compile {compiled - loaded:.2f}s")

    m = flows["big"]
    assert len(m.tasks) == N
    assert m.roots == ("t0",)
    assert m.task(f"t{N - 1}").depends_on[0].task_key == f"t{(N - 1) // 2}"
    assert m.children("t0") == ("t1", "t7")
