"""{{...}} references: what is supported, what is rejected (and why), and one-pass substitution."""

from __future__ import annotations

import pytest

from lambda_resolver.core.references import (
    Reference,
    UnsupportedReference,
    parse_references,
    scan_references,
    substitute,
)


def test_each_supported_form_parses_to_its_kind() -> None:
    refs = parse_references(
        "{{job.parameters.run_date}} {{tasks.a.values.rows}} {{tasks.b_2.value}} "
        "{{tasks.C3.result_state}} {{job.run_id}}"
    )

    assert refs == [
        Reference("job_param", "{{job.parameters.run_date}}", name="run_date"),
        Reference("task_values", "{{tasks.a.values.rows}}", task_key="a", name="rows"),
        Reference("task_value", "{{tasks.b_2.value}}", task_key="b_2"),
        Reference("task_result_state", "{{tasks.C3.result_state}}", task_key="C3"),
        Reference("job_run_id", "{{job.run_id}}"),
    ]


def test_blanks_inside_the_braces_are_allowed_and_kept_in_raw() -> None:
    [ref] = parse_references("x{{ job.parameters.day }}y")

    assert (ref.kind, ref.name, ref.raw) == ("job_param", "day", "{{ job.parameters.day }}")


def test_names_with_other_characters_are_written_in_backticks_as_in_databricks() -> None:
    refs = parse_references("{{job.parameters.`my.param-1`}} {{tasks.`load-a`.values.`row count`}}")

    assert [(r.task_key, r.name) for r in refs] == [(None, "my.param-1"), ("load-a", "row count")]


def test_names_with_other_characters_without_backticks_are_rejected_with_the_fix() -> None:
    with pytest.raises(UnsupportedReference, match="backticks"):
        parse_references("{{tasks.load-a.value}}")


def test_a_template_without_references_has_none() -> None:
    assert parse_references("plain {text} with ${var.x}") == []


@pytest.mark.parametrize(
    ("template", "hint"),
    [
        ("{{job.start_time.iso_date}}", "flow parameter"),
        ("{{job.id}}", "flow parameter"),
        ("{{job.name}}", "flow parameter"),
        ("{{task.name}}", "literal"),
        ("{{workspace.url}}", "bundle variable"),
        ("{{tasks.a.run_id}}", "unknown task reference"),
        ("{{tasks.a.values}}", "unknown task reference"),
        ("{{inputs}}", "unknown reference"),
        ("{{}}", "empty"),
        ("{{nonsense}}", "unknown reference"),
    ],
)
def test_unsupported_references_are_rejected_with_a_hint(template: str, hint: str) -> None:
    with pytest.raises(UnsupportedReference) as err:
        parse_references(f"a {template} b")

    assert err.value.raw == template
    assert hint in str(err.value)
    assert "supported: {{job.parameters.<name>}}" in str(err.value)


def test_scan_returns_every_reference_and_every_error() -> None:
    found, errors = scan_references("{{job.id}} {{job.run_id}} {{task.name}}")

    assert [r.kind for r in found] == ["job_run_id"]
    assert [e.raw for e in errors] == ["{{job.id}}", "{{task.name}}"]


def test_substitute_replaces_each_reference_with_what_resolve_returns() -> None:
    values = {"{{job.parameters.day}}": "2026-11-23", "{{tasks.a.values.rows}}": "10"}

    out = substitute(
        "day={{job.parameters.day}} rows={{ tasks.a.values.rows }}", lambda r: values[r.raw.replace(" ", "")]
    )

    assert out == "day=2026-11-23 rows=10"


def test_substituted_values_are_never_expanded_again() -> None:
    out = substitute("{{tasks.a.value}}", lambda r: "{{job.run_id}}")

    assert out == "{{job.run_id}}"


def test_substitute_leaves_templates_without_references_alone() -> None:
    assert substitute("no refs", lambda r: pytest.fail("not called")) == "no refs"


def test_substitute_refuses_an_unsupported_reference() -> None:
    with pytest.raises(UnsupportedReference):
        substitute("{{job.start_time.iso_date}}", lambda r: "x")
