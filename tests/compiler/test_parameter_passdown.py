"""A flow's job parameters reach its child jobs as Databricks passes a parent job's parameters to
the job a run_job_task runs (bundle-examples' job_with_run_job_tasks relies on it)."""

from __future__ import annotations

from pathlib import Path

from lambda_resolver.compiler import compile_bundle
from lambda_resolver.core.references import parse_reference

BUNDLE = """
bundle: {name: passdown}
resources:
  jobs:
    orchestration:
      name: orchestration
      tags: {lakehook: flow}
      parameters:
        - {name: input, default: test_propagation}
        - {name: region, default: eu}
        - {name: only_here, default: x}
      tasks:
        - task_key: run_reviews
          run_job_task: {job_id: "${resources.jobs.reviews.id}"}
        - task_key: run_clicks
          depends_on: [{task_key: run_reviews}]
          run_job_task:
            job_id: "${resources.jobs.clicks.id}"
            job_parameters: {region: us}
    reviews:
      name: reviews
      parameters: [{name: lakehook, default: ""}, {name: input, default: ""}, {name: region, default: ""}]
      tasks:
        - task_key: leaf
          spark_python_task: {python_file: ./argv.py, parameters: ["{{ job.parameters.[input] }}"]}
    clicks:
      name: clicks
      parameters: [{name: lakehook, default: ""}, {name: region, default: ""}]
      tasks:
        - task_key: leaf
          spark_python_task: {python_file: ./argv.py}
"""


def test_a_parameter_the_child_declares_is_passed_down_and_the_task_overrides_it(tmp_path: Path) -> None:
    (tmp_path / "databricks.yml").write_text(BUNDLE)
    m = compile_bundle(tmp_path, environ={})["orchestration"]
    assert m.task("run_reviews").parameters == {
        "input": "{{job.parameters.input}}",
        "region": "{{job.parameters.region}}",
    }
    # clicks declares no `input` (nothing to receive it) and the task sets region itself
    assert m.task("run_clicks").parameters == {"region": "us"}
    assert all("lakehook" not in t.parameters for t in m.tasks)  # the handle is never passed down


def test_databricks_other_spellings_of_a_job_parameter_reference_parse_alike() -> None:
    spellings = ["{{job.parameters.input}}", "{{ job.parameters.[input] }}", "{{ job.parameters.`input` }}"]
    assert {(parse_reference(s).kind, parse_reference(s).name) for s in spellings} == {("job_param", "input")}


def test_a_flow_job_without_queue_queues_and_queue_enabled_false_does_not(tmp_path: Path) -> None:
    """Mirrors databricks/cli bundle/config/mutator/resourcemutator/default_queueing.go: a job
    without ``queue`` is deployed with queueing enabled; an explicit setting is kept."""
    (tmp_path / "databricks.yml").write_text(BUNDLE)
    assert compile_bundle(tmp_path, environ={})["orchestration"].queue is True
    (tmp_path / "databricks.yml").write_text(
        BUNDLE.replace(
            "      tags: {lakehook: flow}\n",
            "      tags: {lakehook: flow}\n      queue: {enabled: false}\n",
            1,
        )
    )
    assert compile_bundle(tmp_path, environ={})["orchestration"].queue is False
