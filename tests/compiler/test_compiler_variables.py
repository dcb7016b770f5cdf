"""${var.*} and friends resolve as `databricks bundle validate` would, offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lambda_resolver.compiler import CompileError, compile_bundle, load_bundle, validate_bundle


def test_variables_take_their_defaults_on_the_default_target(fixtures: Path) -> None:
    bundle = load_bundle(fixtures / "variables", environ={})

    assert bundle.target == "dev"
    assert bundle.variables["catalog"] == "main"
    assert bundle.variables["schema"] == "main_raw"  # a default built from another variable
    flow = bundle.jobs["flow"]
    assert flow.name == "vars-flow-dev"
    params = flow.spec["tasks"][0]["run_job_task"]["job_parameters"]
    assert params == {"table": "main_raw.events", "catalog": "main", "workers": 1}


def test_a_whole_value_reference_keeps_its_type(fixtures: Path) -> None:
    bundle = load_bundle(fixtures / "variables", environ={})

    assert bundle.jobs["flow"].spec["tasks"][0]["max_retries"] == 1
    assert bundle.variables["cluster"] == {"spark_version": "15.4.x-scala2.12", "num_workers": 1}


def test_a_target_overrides_variables_and_resources(fixtures: Path) -> None:
    m = compile_bundle(fixtures / "variables", target="prod", environ={})["flow"]

    assert m.display_name == "vars-flow-prod"
    load = m.task("load")
    assert load.parameters["catalog"] == "prod"
    assert load.parameters["table"] == "prod_raw.events"  # derived variables follow the override
    assert load.max_retries == 4
    assert load.timeout_seconds == 900  # merged into the task with the same task_key
    assert m.max_concurrent_runs == 5


def test_target_overrides_point_problems_at_the_target_yaml(fixtures: Path, line_of) -> None:
    bundle = load_bundle(fixtures / "variables", target="prod", environ={})

    src = bundle.sources.where(("resources", "jobs", "flow", "tasks", 0, "timeout_seconds"))
    assert src is not None
    assert (src.file, src.line) == (
        "databricks.yml",
        line_of(fixtures / "variables/databricks.yml", "timeout_seconds"),
    )


def test_var_overrides_beat_the_environment_which_beats_the_target(fixtures: Path) -> None:
    env = {"BUNDLE_VAR_catalog": "from_env", "BUNDLE_VAR_retries": "7"}
    bundle = load_bundle(
        fixtures / "variables", target="prod", variables={"catalog": "from_cli"}, environ=env
    )

    assert bundle.variables["catalog"] == "from_cli"
    assert bundle.variables["retries"] == "7"


def test_the_cli_variable_overrides_file_is_read(make_bundle) -> None:
    root = make_bundle(
        {
            "databricks.yml": """\
            bundle: {name: t}
            variables:
              catalog: {description: c, default: main}
            """,
            ".databricks/bundle/default/variable-overrides.json": json.dumps({"catalog": "saved"}),
        }
    )
    assert load_bundle(root, environ={}).variables["catalog"] == "saved"


def test_a_lookup_variable_stays_a_placeholder_and_is_harmless_when_unused(fixtures: Path) -> None:
    bundle = load_bundle(fixtures / "variables", environ={})

    assert "warehouse" in bundle.unresolved_variables
    assert "warehouse" not in bundle.variables
    assert validate_bundle(fixtures / "variables", environ={}) == []


def test_a_lookup_variable_used_by_a_flow_is_a_problem(fixtures: Path) -> None:
    problems = validate_bundle(fixtures / "err_unresolved_value", environ={})

    assert [p.code for p in problems] == ["unresolved_value"]
    assert "${var.warehouse}" in problems[0].message
    assert "--var warehouse=<value>" in problems[0].message


def test_a_lookup_variable_gets_a_value_from_var(fixtures: Path) -> None:
    m = compile_bundle(fixtures / "err_unresolved_value", variables={"warehouse": "abc123"}, environ={})

    assert m["flow"].task("run").parameters == {"warehouse": "abc123"}


def test_an_unknown_variable_is_a_problem_naming_what_is_declared(fixtures: Path) -> None:
    with pytest.raises(CompileError) as err:
        compile_bundle(fixtures / "err_unknown_variable", environ={})

    [p] = err.value.problems
    assert (p.code, p.file, p.job, p.task) == ("unknown_variable", "bundles/flow.yml", "flow", "run")
    assert "catlog" in p.message
    assert "declared: catalog" in p.message


def test_a_variable_without_any_value_is_a_problem_saying_how_to_set_one(fixtures: Path) -> None:
    [p] = validate_bundle(fixtures / "err_missing_variable_value", environ={})

    assert (p.code, p.file) == ("missing_variable_value", "databricks.yml")
    assert "--var catalog=" in p.message
    assert "BUNDLE_VAR_catalog" in p.message


def test_variables_referring_to_each_other_in_a_cycle_are_a_problem(make_bundle) -> None:
    root = make_bundle(
        {
            "databricks.yml": """\
            bundle: {name: t}
            variables:
              a: {description: a, default: "${var.b}"}
              b: {description: b, default: "x-${var.a}"}
            """
        }
    )
    problems = validate_bundle(root, environ={})

    assert [p.code for p in problems] == ["variable_cycle"]
    assert "a → b → a" in problems[0].message


def test_a_complex_variable_inside_a_string_is_a_problem(make_bundle) -> None:
    root = make_bundle(
        {
            "databricks.yml": """\
            bundle: {name: t}
            include: [bundles/*.yml]
            variables:
              cluster: {description: c, type: complex, default: {num_workers: 1}}
            """,
            "bundles/job.yml": """\
            resources:
              jobs:
                job:
                  description: "runs on ${var.cluster}"
                  tasks: [{task_key: t, notebook_task: {notebook_path: x.py}}]
            """,
        }
    )
    assert [p.code for p in validate_bundle(root, environ={})] == ["bad_variable_use"]


def test_a_var_for_an_undeclared_variable_is_a_problem(fixtures: Path) -> None:
    problems = validate_bundle(fixtures / "variables", variables={"nope": "1"}, environ={})

    assert [p.code for p in problems] == ["unknown_variable"]
    assert "nope" in problems[0].message


def test_an_unknown_target_is_a_problem_listing_the_targets(fixtures: Path) -> None:
    [p] = validate_bundle(fixtures / "variables", target="staging", environ={})

    assert p.code == "unknown_target"
    assert "dev, prod" in p.message


def test_targets_without_a_default_need_one_to_be_named(make_bundle) -> None:
    root = make_bundle({"databricks.yml": "bundle: {name: t}\ntargets:\n  a: {}\n  b: {}\n"})

    assert [p.code for p in validate_bundle(root, environ={})] == ["no_target"]
    assert load_bundle(root, target="b", environ={}).target == "b"


def test_a_bundle_without_targets_uses_the_implicit_default_target(make_bundle) -> None:
    root = make_bundle({"databricks.yml": "bundle: {name: t}\n"})

    assert load_bundle(root, environ={}).target == "default"


def test_references_to_resources_that_do_not_exist_are_problems(make_bundle) -> None:
    root = make_bundle(
        {
            "bundles/job.yml": """\
            resources:
              jobs:
                job:
                  description: "${resources.pipelines.etl.id} ${workspace.file_path}"
                  tasks: [{task_key: t, notebook_task: {notebook_path: x.py}}]
            """
        }
    )
    problems = validate_bundle(root, environ={})

    assert [p.code for p in problems] == ["unknown_resource"]
    # ${workspace.*} has no offline value: kept as written, not a problem outside flow fields
    assert (
        "${workspace.file_path}"
        in load_bundle(root, strict=False, environ={}).jobs["job"].spec["description"]
    )
