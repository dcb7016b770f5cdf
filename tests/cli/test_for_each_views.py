"""A for_each task is one node in `lakehook graph` and one row in `lakehook status`, with its
iteration counts, however many iterations it has."""

from __future__ import annotations

import io
import json

from rich.console import Console

from lambda_resolver.cli.graph import dot, mermaid
from lambda_resolver.cli.render import run_tree, summary_table

from support.flows import flow, for_each_task, job_task

MANIFEST = flow("loop", [job_task("list"), for_each_task("fe", "[1,2,3]", ["list"], concurrency=3)])


def shown(renderable: object) -> str:
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(renderable)
    return out.getvalue()


def test_the_graph_draws_a_loop_as_one_node_with_its_job_and_concurrency() -> None:
    text = mermaid(MANIFEST, {"fe": "RUNNING"})
    assert "for each · job_fe, 3 at once" in text
    assert text.count("t_fe[") == 1
    assert "for each job_fe, 3 at once" in dot(MANIFEST)


def test_status_shows_a_loop_in_one_row_with_its_counts() -> None:
    iterations = {"total": 500, "PENDING": 470, "RUNNING": 20, "SUCCESS": 9, "FAILED": 1}
    doc = {
        "run_id": "r1",
        "flow": "loop",
        "flow_version": 1,
        "state": "RUNNING",
        "tasks": [
            {"task_key": "list", "state": "SUCCESS", "attempt": 1, "value": {"n": 500}},
            {
                "task_key": "fe",
                "state": "RUNNING",
                "attempt": 1,
                "promise_id": "r1.fe.1",
                "iterations": iterations,
            },
        ],
    }
    tree, table = shown(run_tree(json.loads(json.dumps(doc)))), shown(summary_table(doc))
    for text in (tree, table):
        assert "10/500 iterations done · PENDING 470 · RUNNING 20 · SUCCESS 9 · FAILED 1" in text
        assert text.count("fe ") >= 1 and "r1.fe.1.0" not in text
    assert len([line for line in table.splitlines() if "iterations done" in line]) == 1
