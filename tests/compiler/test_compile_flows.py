"""Flows compile to the manifest the engine runs: tasks, dependencies, settings, job refs."""

from __future__ import annotations

from pathlib import Path

from lambda_resolver.compiler import compile_bundle, compile_flows, load_bundle
from lambda_resolver.core.manifest import (
    Condition,
    ConditionOp,
    Dependency,
    FlowManifest,
    JobRef,
    RunIf,
    TaskKind,
)


def test_a_and_b_then_c_then_d_compiles_to_the_expected_manifest(fixtures: Path) -> None:
    flows = compile_bundle(fixtures / "nightly", environ={})

    assert list(flows) == ["nightly"]
    m = flows["nightly"]
    assert m.name == "nightly"
    assert m.display_name == "nightly-dev"  # ${bundle.target} of the default target
    assert m.source == "bundles/nightly.yml"
    assert [t.key for t in m.tasks] == ["extract_a", "extract_b", "combine", "report"]
    assert m.roots == ("extract_a", "extract_b")
    assert m.leaves == ("report",)
    assert m.children("extract_a") == ("combine",)
    assert m.children("extract_b") == ("combine",)
    assert m.children("combine") == ("report",)
    assert m.task("combine").depends_on == (Dependency("extract_a"), Dependency("extract_b"))
    assert m.task("report").depends_on == (Dependency("combine"),)
    assert all(t.kind is TaskKind.JOB and t.job_key == t.key for t in m.tasks)
    assert m.jobs == (
        JobRef("extract_a", "extract_a"),
        JobRef("extract_b", "extract_b"),
        JobRef("combine", "combine"),
        JobRef("report", "report"),
    )
    assert m.parameters == (("run_date", ""), ("catalog", "dev_catalog"))
    # extract_a's job declares catalog: the flow's catalog reaches it as Databricks passes a parent
    # job's parameters down a run_job_task; run_date is set by the task itself
    assert m.task("extract_a").parameters == {
        "catalog": "{{job.parameters.catalog}}",
        "run_date": "{{job.parameters.run_date}}",
    }
    assert m.task("extract_b").parameters == {  # its job declares both: passed down
        "catalog": "{{job.parameters.catalog}}",
        "run_date": "{{job.parameters.run_date}}",
    }
    assert m.task("combine").parameters == {
        "rows_a": "{{tasks.extract_a.values.rows}}",
        "catalog": "dev_catalog",  # the task's own value wins over the flow's
        "run_date": "{{job.parameters.run_date}}",
    }
    assert m.task("report").parameters == {
        "summary": "{{tasks.combine.value}}",
        "rows_a": "{{tasks.extract_a.values.rows}}",  # transitive upstream is fine
        "flow_run": "{{job.run_id}}",
        "catalog": "{{job.parameters.catalog}}",
        "run_date": "{{job.parameters.run_date}}",
    }


def test_flow_settings_and_task_settings_keep_their_databricks_meaning(fixtures: Path) -> None:
    m = compile_bundle(fixtures / "nightly", environ={})["nightly"]

    assert (m.max_concurrent_runs, m.queue, m.timeout_seconds) == (2, True, 7200)
    report = m.task("report")
    assert (report.max_retries, report.min_retry_interval_ms, report.timeout_seconds) == (1, 60000, 3600)
    extract = m.task("extract_a")
    assert extract.run_if is RunIf.ALL_SUCCESS
    assert (extract.max_retries, extract.min_retry_interval_ms, extract.retry_on_timeout) == (0, 0, False)
    assert extract.timeout_seconds == 0


def test_a_flow_without_settings_gets_the_databricks_defaults(make_bundle) -> None:
    root = make_bundle(
        {
            "bundles/flow.yml": """\
            resources:
              jobs:
                flow:
                  tags: {lakehook: flow}
                  tasks:
                    - task_key: only
                      run_job_task: {job_id: "${resources.jobs.work.id}"}
            """
        },
        children=("work",),
    )
    m = compile_bundle(root, environ={})["flow"]

    # queue: as bundles deploy a job that says nothing (databricks/cli's DefaultQueueing mutator,
    # bundle/config/mutator/resourcemutator/default_queueing.go), queueing is on
    assert (m.max_concurrent_runs, m.queue, m.timeout_seconds, m.parameters) == (1, True, 0, ())
    assert m.display_name == "flow"  # no name: the job key


def test_fan_in_then_condition_branches_compile(fixtures: Path) -> None:
    m = compile_bundle(fixtures / "fanin_condition", environ={})["fanin"]

    assert m.task("gather").depends_on == (Dependency("a"), Dependency("b"), Dependency("c"))
    assert m.task("gather").run_if is RunIf.AT_LEAST_ONE_SUCCESS
    check = m.task("check")
    assert check.kind is TaskKind.CONDITION
    assert check.job_key is None
    assert check.condition == Condition(
        ConditionOp.GREATER_THAN, "{{tasks.gather.values.rows}}", "{{job.parameters.threshold}}"
    )
    assert m.task("big").depends_on == (Dependency("check", "true"),)
    assert m.task("small").depends_on == (Dependency("check", "false"),)
    assert m.task("small").run_if is RunIf.ALL_DONE
    assert m.children("check") == ("big", "small")
    assert m.leaves == ("big", "small")
    assert m.roots == ("a", "b", "c")


def test_retries_and_timeouts_are_carried(fixtures: Path) -> None:
    c = compile_bundle(fixtures / "fanin_condition", environ={})["fanin"].task("c")

    assert (c.max_retries, c.min_retry_interval_ms, c.retry_on_timeout, c.timeout_seconds) == (
        3,
        1000,
        True,
        600,
    )


def test_a_job_tagged_external_makes_an_external_task(fixtures: Path) -> None:
    m = compile_bundle(fixtures / "fanin_condition", environ={})["fanin"]

    assert m.task("big").kind is TaskKind.EXTERNAL
    assert m.task("big").job_key == "approval"
    assert m.job("approval") == JobRef("approval", "approval", None, external=True)
    # the external job declares no `lakehook` parameter, and needs none
    assert "lakehook" not in load_bundle(fixtures / "fanin_condition", environ={}).jobs["approval"].parameters


def test_job_refs_list_each_job_once_in_order_of_first_use(fixtures: Path) -> None:
    m = compile_bundle(fixtures / "fanin_condition", environ={})["fanin"]

    assert [j.key for j in m.jobs] == ["work", "approval"]
    assert all(j.job_id is None for j in m.jobs)  # known only after publish
    assert m.with_job_ids({"work": 11, "approval": 12}).job("work").job_id == 11


def test_the_manifest_survives_a_round_trip_through_its_dict(fixtures: Path) -> None:
    for case, name in (("nightly", "nightly"), ("fanin_condition", "fanin")):
        m = compile_bundle(fixtures / case, environ={})[name]
        assert FlowManifest.from_dict(m.to_dict()) == m


def test_only_jobs_tagged_as_flows_are_compiled(fixtures: Path) -> None:
    bundle = load_bundle(fixtures / "nightly", environ={})

    assert set(bundle.jobs) == {"nightly", "extract_a", "extract_b", "combine", "report"}
    assert set(bundle.flows) == {"nightly"}
    assert set(compile_flows(bundle)) == {"nightly"}


def test_yaml_booleans_in_outcomes_and_parameters_are_written_as_databricks_does(make_bundle) -> None:
    root = make_bundle(
        {
            "bundles/flow.yml": """\
            resources:
              jobs:
                flow:
                  tags: {lakehook: flow}
                  tasks:
                    - task_key: check
                      condition_task: {op: EQUAL_TO, left: 1, right: 1.5}
                    - task_key: go
                      depends_on: [{task_key: check, outcome: true}]
                      run_job_task:
                        job_id: ${resources.jobs.work.id}
                        job_parameters: {flag: true, n: 5}
            """
        },
        children=("work",),
    )
    m = compile_bundle(root, environ={})["flow"]

    assert m.task("go").depends_on == (Dependency("check", "true"),)
    assert m.task("go").parameters == {"flag": "true", "n": "5"}
    assert m.task("check").condition == Condition(ConditionOp.EQUAL_TO, "1", "1.5")


def test_a_flow_may_pass_its_repair_count_on(make_bundle) -> None:
    root = make_bundle(
        {
            "bundles/flow.yml": """\
            resources:
              jobs:
                flow:
                  tags: {lakehook: flow}
                  tasks:
                    - task_key: only
                      run_job_task:
                        job_id: "${resources.jobs.work.id}"
                        job_parameters: {repair: "{{job.repair_count}}"}
            """,
            "bundles/work.yml": """\
            resources:
              jobs:
                work:
                  name: work
                  parameters:
                    - {name: lakehook, default: ""}
                    - {name: repair, default: "0"}
                  tasks:
                    - task_key: main
                      notebook_task: {notebook_path: ../src/work.py}
            """,
        },
    )
    m = compile_bundle(root, environ={})["flow"]

    assert m.task("only").parameters == {"repair": "{{job.repair_count}}"}
