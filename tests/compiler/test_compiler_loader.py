"""Loading a bundle: includes, target merges, YAML as the Databricks CLI reads it, what Bundle exposes."""

from __future__ import annotations

from pathlib import Path

from lambda_resolver.compiler import job_ref_key, load_bundle, validate_bundle


def test_include_globs_that_match_nothing_are_fine(make_bundle) -> None:
    root = make_bundle({"databricks.yml": "bundle: {name: t}\ninclude: [bundles/*.yml, more/**/*.yml]\n"})

    assert validate_bundle(root, environ={}) == []


def test_includes_merge_resources_from_every_file(make_bundle) -> None:
    root = make_bundle(
        {"databricks.yml": "bundle: {name: t}\ninclude: [bundles/*.yml, extra/pipes.yml]\n",
         "extra/pipes.yml": "resources:\n  pipelines:\n    etl: {name: etl}\n"},
        children=("a", "b"),
    )  # fmt: skip
    bundle = load_bundle(root, environ={})

    assert set(bundle.jobs) == {"a", "b"}
    assert bundle.jobs["a"].source.file == "bundles/a.yml"
    assert bundle.jobs["a"].source.line == 3
    assert bundle.config["resources"]["pipelines"] == {"etl": {"name": "etl"}}


def test_a_job_exposes_its_resolved_spec_parameters_tags_and_task_sources(fixtures: Path) -> None:
    bundle = load_bundle(fixtures / "fanin_condition", environ={})
    work, approval, flow = bundle.jobs["work"], bundle.jobs["approval"], bundle.jobs["fanin"]

    assert work.parameters == {"lakehook": ""}
    assert work.task("main")["notebook_task"] == {"notebook_path": "../src/work.py"}
    assert work.task_source("main").file == "bundles/work.yml"
    assert (
        work.resolve_path(bundle.root, "../src/work.py", "main") == fixtures / "fanin_condition/src/work.py"
    )
    assert (
        work.resolve_path(bundle.root, "${workspace.file_path}/src/x.py")
        == fixtures / "fanin_condition/src/x.py"
    )
    assert approval.is_external and approval.tags == {"lakehook": "external"}
    assert flow.is_flow and flow.name == "fan-in"
    assert flow.spec["tasks"][0]["run_job_task"]["job_id"] == "${resources.jobs.work.id}"
    assert job_ref_key(flow.spec["tasks"][0]["run_job_task"]["job_id"]) == "work"
    assert job_ref_key(123) is None
    assert job_ref_key("${var.job}") is None


def test_the_bundle_knows_its_root_name_target_and_mode(fixtures: Path) -> None:
    bundle = load_bundle(fixtures / "nightly", environ={})

    assert (bundle.root, bundle.name, bundle.target, bundle.mode) == (
        fixtures / "nightly", "nightly_demo", "dev", "development",
    )  # fmt: skip
    assert load_bundle(fixtures / "nightly", target="prod", environ={}).mode == "production"


def test_a_target_merges_tasks_by_key_and_appends_new_ones(make_bundle) -> None:
    root = make_bundle(
        {
            "databricks.yml": """\
            bundle: {name: t}
            include: [bundles/*.yml]
            targets:
              dev:
                default: true
                resources:
                  jobs:
                    flow:
                      tags: {team: data}
                      parameters:
                        - {name: day, default: today}
                      tasks:
                        - task_key: first
                          max_retries: 2
                        - task_key: extra
                          depends_on: [{task_key: first}]
                          run_job_task: {job_id: "${resources.jobs.work.id}"}
            """,
            "bundles/flow.yml": """\
            resources:
              jobs:
                flow:
                  tags: {lakehook: flow}
                  parameters:
                    - {name: day, default: ""}
                  tasks:
                    - task_key: first
                      run_job_task: {job_id: "${resources.jobs.work.id}"}
            """,
        },
        children=("work",),
    )
    bundle = load_bundle(root, environ={})
    flow = bundle.jobs["flow"]

    assert [t["task_key"] for t in flow.tasks] == ["first", "extra"]
    assert flow.tasks[0]["max_retries"] == 2
    assert flow.tags == {"lakehook": "flow", "team": "data"}
    assert flow.parameters == {"day": "today"}
    assert flow.task_source("first").file == "bundles/flow.yml"
    assert flow.task_source("extra").file == "databricks.yml"
    assert flow.task_source("extra").line == 15


def test_yaml_is_read_like_the_databricks_cli_reads_it(make_bundle) -> None:
    root = make_bundle(
        {
            "bundles/job.yml": """\
            resources:
              jobs:
                job:
                  parameters:
                    - {name: answer, default: yes}
                    - {name: day, default: 2024-01-01}
                    - {name: code, default: 010}
                  tasks: [{task_key: t, notebook_task: {notebook_path: x.py}}]
            """
        }
    )
    assert load_bundle(root, environ={}).jobs["job"].parameters == {
        "answer": "yes",
        "day": "2024-01-01",
        "code": "10",
    }


def test_yaml_anchors_and_merge_keys_work(make_bundle) -> None:
    root = make_bundle(
        {
            "bundles/jobs.yml": """\
            x-task: &retrying
              max_retries: 2
              timeout_seconds: 60
            resources:
              jobs:
                flow:
                  tags: {lakehook: flow}
                  tasks:
                    - task_key: a
                      <<: *retrying
                      timeout_seconds: 30
                      run_job_task: {job_id: "${resources.jobs.work.id}"}
            """
        },
        children=("work",),
    )
    problems = validate_bundle(root, environ={})
    # `x-task` is not a bundle key, but it only holds an anchor: the CLI says nothing about it
    assert problems == []
    task = load_bundle(root, strict=False, environ={}).jobs["flow"].task("a")
    assert (task["max_retries"], task["timeout_seconds"]) == (2, 30)


def test_the_bundle_file_may_be_named_databricks_yaml(make_bundle, tmp_path: Path) -> None:
    root = make_bundle({"databricks.yml": "bundle: {name: t}\n"})
    (root / "databricks.yml").rename(root / "databricks.yaml")

    assert load_bundle(root, environ={}).name == "t"
