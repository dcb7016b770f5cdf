"""Every compile error names the file, line, job and task, and says what to fix — all at once."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest

from lambda_resolver.compiler import CompileError, compile_bundle, load_bundle, validate_bundle


class Case(NamedTuple):
    bundle: str
    code: str
    file: str | None
    job: str | None
    task: str | None
    line_needle: str | None  # the problem's line is the first line of `file` containing this
    says: tuple[str, ...]  # fragments of the message: what is wrong and what to do


CASES = [
    Case("err_yaml_syntax", "yaml_syntax", "bundles/flow.yml", None, None, "tasks: []", ("invalid YAML",)),
    Case("err_missing_bundle", "missing_bundle", None, None, None, None, ("no databricks.yml", "--bundle")),
    Case("err_missing_include", "missing_include", "databricks.yml", None, None, "bundles/extra/jobs.yml",
         ("bundles/extra/jobs.yml", "does not exist")),
    Case("err_duplicate_job", "duplicate_job", "bundles/work_again.yml", "work", None, "    work:",
         ("already defined in bundles/work.yml", "unique")),
    Case("err_unknown_variable", "unknown_variable", "bundles/flow.yml", "flow", "run", "catlog",
         ("'catlog'", "not declared")),
    Case("err_missing_variable_value", "missing_variable_value", "databricks.yml", None, None, "  catalog:",
         ("no value", "default", "--var catalog=")),
    Case("err_unknown_job", "unknown_job", "bundles/flow.yml", "flow", "run", "wrok",
         ("resources.jobs.wrok", "does not define", "flow, work")),
    Case("err_cycle", "cycle", "bundles/flow.yml", "flow", "a", "depends_on: [{task_key: start}",
         ("a → c → b → a", "depends on", "remove one")),
    Case("err_unknown_dependency", "unknown_dependency", "bundles/flow.yml", "flow", "load", "extrakt",
         ("'extrakt'", "did you mean 'extract'")),
    Case("err_outcome_on_non_condition", "outcome_on_non_condition", "bundles/flow.yml", "flow", "load",
         "outcome", ("'extract' is not a condition_task", "remove the outcome")),
    Case("err_bad_outcome", "bad_outcome", "bundles/flow.yml", "flow", "load", "outcome",
         ('"true" or "false"', "'yes'")),
    Case("err_job_outside_bundle", "job_outside_bundle", "bundles/flow.yml", "flow", "run", "123456789",
         ("123456789", "${resources.jobs.<key>.id}")),
    Case("err_missing_lakehook_parameter", "missing_lakehook_parameter", "bundles/work.yml", "work", None,
         "    work:", ("flow.run", "{name: lakehook, default: \"\"}", "lakehook: external")),
    Case("err_unsupported_task_type", "unsupported_task_type", "bundles/flow.yml", "flow", "notebook",
         "task_key: notebook", ("notebook_task cannot run directly in a flow", "run_job_task")),
    Case("err_for_each_task", "unsupported_task_type", "bundles/flow.yml", "flow", "fan", "    task:",
         ("nested task has notebook_task", "must be a run_job_task")),
    Case("err_bad_run_if", "bad_run_if", "bundles/flow.yml", "flow", "after", "run_if",
         ("'ALWAYS'", "ALL_SUCCESS", "AT_LEAST_ONE_FAILED")),
    Case("err_unknown_reference", "unknown_reference", "bundles/flow.yml", "flow", "b", "rows:",
         ("{{tasks.a.values.rows}}", "not upstream of 'b'", "depends_on")),
    Case("err_unknown_job_parameter", "unknown_reference", "bundles/flow.yml", "flow", "a", "day:",
         ("{{job.parameters.run_date}}", "no parameter 'run_date'", "{name: run_date")),
    Case("err_unsupported_reference", "unknown_reference", "bundles/flow.yml", "flow", "a", "day:",
         ("{{job.start_time.iso_date}}", "flow parameter", "supported:")),
    Case("err_duplicate_task_key", "duplicate_task_key", "bundles/flow.yml", "flow", "run", None,
         ("'run' is used twice", "first at line 7")),
    Case("err_empty_flow", "empty_flow", "bundles/flow.yml", "flow", None, "    flow:",
         ("no tasks", "lakehook: flow")),
    Case("err_invalid_job", "invalid_job", "bundles/work.yml", "work", "main", "notebook_taks",
         ("unknown field 'notebook_taks'", "the Databricks CLI warns")),
    Case("err_bad_condition", "bad_condition", "bundles/flow.yml", "flow", "check", "BIGGER_THAN",
         ("'BIGGER_THAN'", "GREATER_THAN")),
    Case("err_bad_lakehook_tag", "bad_lakehook_tag", "bundles/flow.yml", "flow", None, "flwo",
         ("'flwo'", "lakehook: flow", "lakehook: external")),
    Case("err_unresolved_value", "unresolved_value", "bundles/flow.yml", "flow", "run", "warehouse:",
         ("${var.warehouse}", "no value offline")),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.bundle for c in CASES])
def test_a_broken_bundle_reports_one_located_problem_that_says_what_to_fix(
    fixtures: Path, line_of, case: Case
) -> None:
    problems = validate_bundle(fixtures / case.bundle, environ={})

    assert [p.code for p in problems] == [case.code], [str(p) for p in problems]
    [p] = problems
    assert (p.file, p.job, p.task) == (case.file, case.job, case.task)
    if case.line_needle:
        assert p.line == line_of(fixtures / case.bundle / str(case.file), case.line_needle)
    for fragment in case.says:
        assert fragment in p.message


def test_a_duplicate_task_key_points_at_the_second_one(fixtures: Path, line_of) -> None:
    [p] = validate_bundle(fixtures / "err_duplicate_task_key", environ={})

    assert p.line == line_of(fixtures / "err_duplicate_task_key/bundles/flow.yml", "task_key: run", 2)


def test_compile_raises_with_the_same_problems_validate_returns(fixtures: Path) -> None:
    with pytest.raises(CompileError) as err:
        compile_bundle(fixtures / "err_cycle", environ={})

    assert [p.to_dict() for p in err.value.problems] == [
        p.to_dict() for p in validate_bundle(fixtures / "err_cycle", environ={})
    ]
    assert err.value.code == "invalid_bundle"
    assert "bundles/flow.yml:" in err.value.message
    assert err.value.to_dict()["error"]["problems"][0]["code"] == "cycle"


def test_a_bundle_with_many_mistakes_reports_all_of_them_at_once(fixtures: Path) -> None:
    problems = validate_bundle(fixtures / "err_many", environ={})

    assert {p.code for p in problems} == {
        "unknown_variable",  # ${var.catalogue}
        "invalid_job",  # max_retry: a field Databricks does not know
        "unknown_dependency",  # ghost
        "bad_run_if",  # SOMETIMES
        "job_outside_bundle",  # job_id: 42
        "unsupported_task_type",  # spark_python_task
        "cycle",  # a → c → b → a
        "unknown_reference",  # {{tasks.d...}} from a task that does not depend on d
        "missing_lakehook_parameter",  # plain.yml
    }
    assert len(problems) == 9
    assert all(p.file and p.line for p in problems)


def test_strict_loading_raises_for_an_unreadable_bundle(fixtures: Path) -> None:
    with pytest.raises(CompileError) as err:
        load_bundle(fixtures / "err_yaml_syntax", environ={})
    assert [p.code for p in err.value.problems] == ["yaml_syntax"]

    bundle = load_bundle(fixtures / "err_yaml_syntax", strict=False, environ={})
    assert [p.code for p in bundle.problems] == ["yaml_syntax"]
    assert set(bundle.jobs) == {"work"}  # what could be read is still there


def flow_file(*tasks: str, settings: str = "", key: str = "flow") -> str:
    """A flow job file with one flow-style task mapping per argument."""
    head = f"resources:\n  jobs:\n    {key}:\n      tags: {{lakehook: flow}}\n{settings}      tasks:\n"
    return head + "".join(f"        - {{{t}}}\n" for t in tasks)


RUN_WORK = "run_job_task: {job_id: '${resources.jobs.work.id}'"
JOB_FILE = "resources:\n  jobs:\n    odd:\n"
MAX_RUNS = "      max_concurrent_runs: 1.5\n"
ROOT = "bundle: {name: t}\ninclude: [bundles/*.yml]\n"

MORE = [
    ("nested_flow",
     {"bundles/other.yml": flow_file(f"task_key: x, {RUN_WORK}}}", key="other"),
      "bundles/flow.yml": flow_file("task_key: y, run_job_task: {job_id: '${resources.jobs.other.id}'}")},
     "itself a flow"),
    ("reserved_parameter",
     {"bundles/flow.yml": flow_file(f"task_key: y, {RUN_WORK}, job_parameters: {{lakehook: x}}}}")},
     "must not set `lakehook`"),
    ("unsupported_setting",
     {"bundles/flow.yml": flow_file(f"task_key: y, {RUN_WORK}, pipeline_params: {{full_refresh: true}}}}")},
     "pass job_parameters"),
    ("unsupported_setting",
     {"bundles/flow.yml": flow_file(f"task_key: y, disabled: true, {RUN_WORK}}}")},
     "disabled tasks"),
    ("bad_setting",
     {"bundles/flow.yml": flow_file(f"task_key: y, max_retries: -2, {RUN_WORK}}}")},
     "at least -1"),
    ("bad_setting",
     {"bundles/flow.yml": flow_file(f"task_key: y, {RUN_WORK}}}", settings=MAX_RUNS)},
     "whole number"),
    ("bad_condition",
     {"bundles/flow.yml": flow_file("task_key: c, condition_task: {op: EQUAL_TO, left: a, extra: 1}")},
     "missing right"),
    ("duplicate_key", {"bundles/flow.yml": JOB_FILE + "      name: a\n      name: b\n"}, "defined twice"),
    ("duplicate_job", {"bundles/flow.yml": JOB_FILE + "      name: a\n    odd: {}\n"}, "defined twice"),
    ("unknown_field", {"databricks.yml": ROOT + "resource: {}\n"}, "did you mean 'resources'"),
    ("bad_config", {"databricks.yml": "include: [bundles/*.yml]\n"}, "bundle.name"),
    ("duplicate_variable",
     {"databricks.yml": ROOT + "variables: {a: {default: 1}}\n",
      "bundles/vars.yml": "variables: {a: {default: 2}}\n"},
     "declared twice"),
    ("invalid_job", {"bundles/flow.yml": JOB_FILE + "      queue: {enabled: true, size: 3}\n"},
     "unknown field 'size' in queue_settings"),
    ("invalid_job", {"bundles/flow.yml": "resources:\n  jobs:\n    odd: 5\n"}, "must be a mapping"),
]  # fmt: skip


@pytest.mark.parametrize(("code", "files", "says"), MORE, ids=[f"{m[0]}-{i}" for i, m in enumerate(MORE)])
def test_other_mistakes_have_their_own_codes(
    make_bundle, code: str, files: dict[str, str], says: str
) -> None:
    root = make_bundle(files, children=("work",))
    problems = validate_bundle(root, environ={})

    assert [p.code for p in problems] == [code], [str(p) for p in problems]
    assert says in problems[0].message
