"""The repository's own bundle (databricks.yml, bundles/): valid for every target, flows of the
documented shapes, jobs wired as the flows need, and located errors when a copy is broken."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

from lambda_resolver.compiler import Bundle, compile_bundle, load_bundle, validate_bundle
from lambda_resolver.core.manifest import (
    Condition,
    ConditionOp,
    Dependency,
    FlowManifest,
    RunIf,
    TaskKind,
)

REPO = Path(__file__).resolve().parents[2]
TARGETS = sorted(yaml.safe_load((REPO / "databricks.yml").read_text(encoding="utf-8"))["targets"])
VOLUME = "/Volumes/main/lakehook_demo/files"
WEBHOOKS = {"on_success": [{"id": "${var.webhook_destination}"}],
            "on_failure": [{"id": "${var.webhook_destination}"}]}  # fmt: skip
WHEEL = "../dist/*.whl"


# --- valid as it stands ---------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_the_bundle_has_no_problem_in_any_target(target: str) -> None:
    problems = validate_bundle(REPO, target, environ={})
    assert problems == [], "\n".join(map(str, problems))


def test_dev_is_the_default_development_target_and_prod_runs_in_production_mode() -> None:
    assert TARGETS == ["dev", "prod"]
    dev = load_bundle(REPO, environ={})
    assert (dev.target, dev.mode) == ("dev", "development")
    prod = load_bundle(REPO, "prod", environ={})
    assert prod.mode == "production"
    assert prod.config["run_as"] == {"service_principal_name": "${var.prod_service_principal}"}
    assert prod.config["workspace"]["root_path"].startswith("/Workspace/Users/${workspace.current_user")


def test_the_wheel_is_built_from_the_project_and_looked_up_values_stay_for_deploy(bundle: Bundle) -> None:
    wheel = bundle.config["artifacts"]["lakehook_wheel"]
    assert (wheel["type"], wheel["path"]) == ("whl", ".")
    assert "wheel" in wheel["build"]
    assert {"webhook_destination", "prod_service_principal"} <= bundle.unresolved_variables
    assert bundle.variables["resolver_url"] == "http://127.0.0.1:8765"


@pytest.mark.parametrize(
    ("target", "variables", "data_root"),
    [
        ("dev", {}, VOLUME),
        ("prod", {}, "/Volumes/main/lakehook/files"),
        ("dev", {"catalog": "sandbox"}, "/Volumes/sandbox/lakehook_demo/files"),
        ("dev", {"data_root": "/tmp/lakehook-data"}, "/tmp/lakehook-data"),
    ],
)
def test_data_root_follows_the_bundle_variables(
    target: str, variables: dict[str, str], data_root: str
) -> None:
    flows = compile_bundle(REPO, target, variables, environ={})
    assert {name: dict(m.parameters)["data_root"] for name, m in flows.items()} == {
        "nightly": data_root,
        "ml_pipeline": data_root,
    }


# --- the flows ------------------------------------------------------------------------------------


def test_nightly_runs_both_extracts_then_combine_then_report(flows: dict[str, FlowManifest]) -> None:
    m = flows["nightly"]
    assert [t.key for t in m.tasks] == ["extract_a", "extract_b", "combine", "report"]
    assert (m.roots, m.leaves) == (("extract_a", "extract_b"), ("report",))
    assert m.task("combine").depends_on == (Dependency("extract_a"), Dependency("extract_b"))
    assert m.task("report").depends_on == (Dependency("combine"),)
    assert all(t.kind is TaskKind.JOB and t.job_key == t.key for t in m.tasks)
    assert all(t.run_if is RunIf.ALL_SUCCESS for t in m.tasks)
    report = m.task("report")
    assert (report.max_retries, report.timeout_seconds) == (2, 3600)
    assert m.parameters == (("run_date", ""), ("data_root", VOLUME))


def test_nightly_hands_each_file_and_its_row_count_to_the_next_job(flows: dict[str, FlowManifest]) -> None:
    m = flows["nightly"]
    run_folder = {"run_date": "{{job.parameters.run_date}}", "data_root": "{{job.parameters.data_root}}",
                  "flow_run": "{{job.run_id}}"}  # fmt: skip
    assert m.task("extract_a").parameters == m.task("extract_b").parameters == run_folder
    assert m.task("combine").parameters == {
        "rows_a": "{{tasks.extract_a.values.rows}}",
        "path_a": "{{tasks.extract_a.values.path}}",
        "rows_b": "{{tasks.extract_b.values.rows}}",
        "path_b": "{{tasks.extract_b.values.path}}",
    }
    assert m.task("report").parameters == {
        "rows": "{{tasks.combine.values.rows}}",
        "path": "{{tasks.combine.values.path}}",
    }


def test_ml_pipeline_gates_deploy_on_the_metric_and_an_external_approval(
    flows: dict[str, FlowManifest],
) -> None:
    m = flows["ml_pipeline"]
    features = ("features_users", "features_items", "features_events")
    assert [t.key for t in m.tasks] == [*features, "combine_features", "train", "validate", "check_metric",
                                        "approve", "deploy", "notify_rejected", "cleanup"]  # fmt: skip
    assert (m.roots, m.leaves) == (features, ("cleanup",))
    assert m.task("combine_features").depends_on == tuple(Dependency(k) for k in features)
    check = m.task("check_metric")
    assert check.kind is TaskKind.CONDITION
    assert check.depends_on == (Dependency("validate"),)
    assert check.condition == Condition(
        ConditionOp.GREATER_THAN_OR_EQUAL, "{{tasks.validate.values.auc}}", "{{job.parameters.min_auc}}"
    )
    approve = m.task("approve")
    assert (approve.kind, approve.job_key) == (TaskKind.EXTERNAL, "approve")
    assert approve.depends_on == (Dependency("check_metric", "true"),)
    assert m.task("deploy").depends_on == (Dependency("approve"),)
    assert m.task("notify_rejected").depends_on == (Dependency("check_metric", "false"),)
    cleanup = m.task("cleanup")
    assert cleanup.depends_on == (Dependency("deploy"), Dependency("notify_rejected"))
    assert cleanup.run_if is RunIf.ALL_DONE
    assert dict(m.parameters) == {"run_date": "", "data_root": VOLUME, "min_auc": "0.8", "force_auc": ""}


def test_train_is_retried_on_failure_and_timeout(flows: dict[str, FlowManifest]) -> None:
    train = flows["ml_pipeline"].task("train")
    assert (train.max_retries, train.min_retry_interval_ms, train.retry_on_timeout) == (2, 1000, True)
    assert train.timeout_seconds == 1800


# --- the jobs the flows run -----------------------------------------------------------------------


def test_the_only_external_job_is_the_approval_gate(bundle: Bundle) -> None:
    assert [k for k, j in bundle.jobs.items() if j.is_external] == ["approve"]
    assert sorted(bundle.flows) == ["ml_pipeline", "nightly"]


def test_every_job_a_flow_starts_takes_the_handle_and_notifies_the_resolver(
    bundle: Bundle, flows: dict[str, FlowManifest], child_jobs: list[str]
) -> None:
    started = {t.job_key for m in flows.values() for t in m.tasks if t.kind is TaskKind.JOB}
    assert started == set(child_jobs)
    for key in sorted(started):
        job = bundle.job(key)
        assert job.parameters["lakehook"] == "", key
        assert job.spec["webhook_notifications"] == WEBHOOKS, key
        assert job.name == key


def test_every_parameter_a_flow_passes_is_declared_by_the_job(
    flows: dict[str, FlowManifest], bundle: Bundle
) -> None:
    for m in flows.values():
        for t in m.tasks:
            if t.job_key is not None:
                undeclared = set(t.parameters) - set(bundle.job(t.job_key).parameters)
                assert not undeclared, f"{m.name}.{t.key} passes {undeclared} to {t.job_key}"


def test_jobs_run_serverless_and_two_show_how_a_job_installs_the_wheel(
    bundle: Bundle, child_jobs: list[str]
) -> None:
    for key in child_jobs:
        job = bundle.job(key)
        (task,) = job.tasks
        if key == "train":  # classic compute: the wheel is a task library
            assert task["job_cluster_key"] == job.spec["job_clusters"][0]["job_cluster_key"]
            assert task["libraries"] == [{"whl": WHEEL}]
        elif key == "notify_rejected":  # a serverless Python file task: the wheel is in its environment
            (env,) = job.spec["environments"]
            assert task["environment_key"] == env["environment_key"]
            assert env["spec"]["dependencies"] == [WHEEL]
            assert "client" not in env["spec"]  # deprecated: environment_version replaces it
        else:  # serverless notebooks: no cluster, and Databricks refuses an environment on them
            assert "job_clusters" not in job.spec, key
            assert not {"new_cluster", "existing_cluster_id", "environment_key", "libraries"} & set(task), key
            assert "notebook_task" in task, key


# --- broken copies fail with located, actionable problems ----------------------------------------


class Breakage(NamedTuple):
    file: str
    old: str
    new: str
    code: str
    job: str | None
    task: str | None
    line_needle: str | None  # the problem's line is the first line of the broken file containing this
    says: tuple[str, ...]
    then: tuple[str, ...] = ()  # the codes of the problems that follow from this one


BREAKAGES = {
    "cycle": Breakage(
        "bundles/nightly.yml",
        "        - task_key: extract_a\n",
        "        - task_key: extract_a\n          depends_on: [{task_key: report}]\n",
        "cycle", "nightly", "extract_a", "depends_on: [{task_key: report}]",
        ("extract_a → report → combine → extract_a", "remove one"),
    ),
    "child_without_lakehook_parameter": Breakage(
        "bundles/combine.yml",
        '        - {name: lakehook, default: ""}\n',
        "",
        "missing_lakehook_parameter", "combine", None, "    combine:",
        ("nightly.combine", "{name: lakehook, default: \"\"}"),
    ),
    "unknown_task_value_reference": Breakage(
        "bundles/nightly.yml",
        "{{tasks.extract_b.values.path}}",
        "{{tasks.extract_c.values.path}}",
        "unknown_reference", "nightly", "combine", "extract_c",
        ("{{tasks.extract_c.values.path}}", "no task 'extract_c'"),
    ),
    "bad_run_if": Breakage(
        "bundles/ml_pipeline.yml",
        "          run_if: ALL_DONE\n",
        "          run_if: ALWAYS\n",
        "bad_run_if", "ml_pipeline", "cleanup", "run_if: ALWAYS",
        ("'ALWAYS'", "ALL_DONE"),
    ),
    "yaml_syntax_error": Breakage(
        "bundles/report.yml",
        "      parameters:\n",
        "      parameters: [\n",
        "yaml_syntax", None, None, "{name: lakehook",  # the parser stops on the line after the "["
        ("invalid YAML",),
        ("unknown_job",),  # the flow task that runs `report` no longer finds it
    ),
    "unknown_job_field": Breakage(
        "bundles/extract_a.yml",
        "      description:",
        "      max_concurent_runs: 1\n      description:",
        "invalid_job", "extract_a", None, "max_concurent_runs",
        ("unknown field 'max_concurent_runs'",),
    ),
    "unknown_flow_task_field": Breakage(
        "bundles/nightly.yml",
        "          timeout_seconds: 3600",
        "          timeout_second: 3600",
        "invalid_job", "nightly", "report", "timeout_second:",
        ("unknown field 'timeout_second'",),
    ),
}  # fmt: skip


@pytest.fixture
def broken_copy(tmp_path: Path) -> Callable[[Breakage], Path]:
    """A copy of the repository's bundle with one text replacement in one file."""

    def make(b: Breakage) -> Path:
        root = tmp_path / "bundle"
        root.mkdir()
        shutil.copy(REPO / "databricks.yml", root / "databricks.yml")
        shutil.copytree(REPO / "bundles", root / "bundles")
        path = root / b.file
        text = path.read_text(encoding="utf-8")
        assert text.count(b.old) == 1, f"{b.old!r} must occur once in {b.file}"
        path.write_text(text.replace(b.old, b.new), encoding="utf-8")
        return root

    return make


@pytest.mark.parametrize("name", list(BREAKAGES))
def test_a_broken_copy_fails_naming_the_file_job_and_task(
    name: str, broken_copy: Callable[[Breakage], Path]
) -> None:
    b = BREAKAGES[name]
    root = broken_copy(b)

    problems = validate_bundle(root, environ={})

    assert [p.code for p in problems] == [b.code, *b.then], "\n".join(map(str, problems))
    p = problems[0]
    assert (p.file, p.job, p.task) == (b.file, b.job, b.task)
    if b.line_needle is not None:
        lines = (root / b.file).read_text(encoding="utf-8").splitlines()
        assert p.line == next(n for n, line in enumerate(lines, 1) if b.line_needle in line)
    for fragment in b.says:
        assert fragment in p.message
    shown = str(p)
    assert shown.startswith(b.file)
    for name_ in (b.job, b.task):
        if name_ is not None:
            assert f"'{name_}'" in shown
