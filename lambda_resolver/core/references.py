"""Dynamic value references (``{{job.parameters.x}}``, ``{{tasks.a.values.rows}}``) in flow templates.

``{{job.trigger.type}}`` and ``{{job.trigger.time.<argument>}}`` are Databricks' own: the type is
``periodic`` for a scheduled run and ``onetime`` for a manual one; the time is the slot of a
scheduled run (cron slots rounded down to the minute, as Databricks does) and the start of a
manual one, in UTC.

The compiler rejects every reference outside the supported set, so the engine can substitute
compiled templates without surprises. Substitution is one pass: a substituted value that itself
contains ``{{...}}`` is never expanded again (values come from notebooks; they are data, not code).
Nothing heavy is imported here: the engine calls this on the settle path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

ReferenceKind = Literal[
    "job_param",
    "task_values",
    "task_value",
    "task_result_state",
    "job_run_id",
    "trigger_type",
    "trigger_time",
    "job_repair_count",
    "iteration_input",
]

#: The arguments of ``{{job.trigger.time.<argument>}}``, as Databricks names them.
TIME_ARGUMENTS = (
    "iso_date",
    "iso_datetime",
    "iso_weekday",
    "is_weekday",
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "second",
    "timestamp_ms",
)

#: One ``{{ ... }}`` occurrence; group 1 is the inside, stripped of surrounding blanks.
REFERENCE_PATTERN = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
reference_pattern = REFERENCE_PATTERN

# Identifiers as Databricks writes them: letters, digits and _ as is; anything else in backticks
# (``{{job.parameters.`my-param`}}``).
_ID = r"([A-Za-z0-9_]+|`[^`]+`|\[[^\[\]]+\])"
_FORMS: tuple[tuple[re.Pattern[str], ReferenceKind], ...] = (
    (re.compile(rf"job\.parameters\.{_ID}"), "job_param"),
    (re.compile(rf"tasks\.{_ID}\.values\.{_ID}"), "task_values"),
    (re.compile(rf"tasks\.{_ID}\.value"), "task_value"),
    (re.compile(rf"tasks\.{_ID}\.result_state"), "task_result_state"),
    (re.compile(r"job\.run_id"), "job_run_id"),
    (re.compile(r"job\.trigger\.type"), "trigger_type"),
    # Databricks' table writes the argument as [argument]; both spellings are accepted
    (re.compile(r"job\.trigger\.time\.(?:([A-Za-z_]+)|\[([A-Za-z_]+)\])"), "trigger_time"),
    (re.compile(r"job\.repair_count"), "job_repair_count"),
    # a for_each iteration's input, whole or one field of it (only in a for_each's nested task)
    (re.compile(rf"input(?:\.{_ID})?"), "iteration_input"),
)

SUPPORTED_FORMS = (
    "{{job.parameters.<name>}}",
    "{{job.run_id}}",
    "{{job.repair_count}}",
    "{{tasks.<key>.values.<name>}}",
    "{{tasks.<key>.value}}",
    "{{tasks.<key>.result_state}}",
    "{{job.trigger.type}}",
    "{{job.trigger.time.<argument>}}",
    "{{input}} and {{input.<field>}} (in a for_each_task's nested task)",
)

# Databricks references a flow cannot offer, with what to do instead.
_HINTS: tuple[tuple[str, str], ...] = (
    (
        "job.start_time",
        "use {{job.trigger.time.<argument>}} (a manual run's start, a scheduled run's slot), or declare "
        "a flow parameter (e.g. run_date) and pass it when starting the run",
    ),
    ("job.trigger.file_arrival", "flows are started manually or by their schedule, not by file arrival"),
    ("job.trigger", "lakehook offers {{job.trigger.type}} and {{job.trigger.time.<argument>}}"),
    ("job.id", "the flow has no Databricks job id at run time; pass what you need as a flow parameter"),
    ("job.name", "use a flow parameter or a literal name"),
    ("task.", "{{task.*}} would name the flow task, not the child job's task; use a literal"),
    ("workspace.", "use a bundle variable (${var.<name>}) resolved at deploy time instead"),
)


@dataclass(frozen=True)
class Reference:
    """One supported reference. ``task_key``/``name`` are set when the form has them."""

    kind: ReferenceKind
    raw: str  # exactly as written, braces included
    task_key: str | None = None
    name: str | None = None


class UnsupportedReference(ValueError):
    """A ``{{...}}`` outside the supported set; the message says what to write instead."""

    def __init__(self, raw: str, reason: str) -> None:
        super().__init__(f"{raw}: {reason}")
        self.raw = raw
        self.reason = reason


def parse_reference(raw: str) -> Reference:
    """Parse one ``{{...}}`` occurrence (braces included) or raise :class:`UnsupportedReference`."""
    match = REFERENCE_PATTERN.fullmatch(raw)
    if match is None:
        raise UnsupportedReference(raw, "not a {{...}} reference")
    ref = _parse(raw, match.group(1))
    if isinstance(ref, UnsupportedReference):
        raise ref
    return ref


def _parse(raw: str, inner: str) -> Reference | UnsupportedReference:
    parsed = _parse_cached(raw, inner)
    return UnsupportedReference(raw, parsed) if isinstance(parsed, str) else parsed


@lru_cache(maxsize=4096)
def _parse_cached(raw: str, inner: str) -> Reference | str:
    """A Reference (immutable, shared) or the reason it is unsupported; flows repeat templates a lot."""
    for pattern, kind in _FORMS:
        m = pattern.fullmatch(inner)
        if m is None:
            continue
        if kind == "job_param":
            return Reference(kind, raw, name=_unquote(m.group(1)))
        if kind == "task_values":
            return Reference(kind, raw, task_key=_unquote(m.group(1)), name=_unquote(m.group(2)))
        if kind in ("task_value", "task_result_state"):
            return Reference(kind, raw, task_key=_unquote(m.group(1)))
        if kind == "iteration_input":
            return Reference(kind, raw, name=None if m.group(1) is None else _unquote(m.group(1)))
        if kind == "trigger_time":
            argument = m.group(1) or m.group(2)
            if argument not in TIME_ARGUMENTS:
                return f"unknown time argument '{argument}'; use one of {', '.join(TIME_ARGUMENTS)}"
            return Reference(kind, raw, name=argument)
        return Reference(kind, raw)
    return _why_unsupported(inner)


def _unquote(ident: str) -> str:
    """A name as written: bare, in backticks (`` `my-param` ``) or in brackets (``[my-param]``)."""
    return ident[1:-1] if ident[:1] in ("`", "[") else ident


def _why_unsupported(inner: str) -> str:
    supported = "supported: " + ", ".join(SUPPORTED_FORMS)
    if not inner:
        return f"an empty reference; {supported}"
    for prefix, hint in _HINTS:
        if inner.startswith(prefix):
            return f"not available in a lakehook flow: {hint} ({supported})"
    if inner.startswith(("tasks.", "job.parameters.")) and re.search(r"[^A-Za-z0-9_.`]", inner):
        return (
            "a name with characters other than letters, digits and _ must be in backticks, "
            f"e.g. {{{{job.parameters.`my-param`}}}} ({supported})"
        )
    if inner.startswith("tasks."):
        return f"unknown task reference; {supported}"
    return f"unknown reference; {supported}"


def scan_references(template: str) -> tuple[list[Reference], list[UnsupportedReference]]:
    """All references in ``template``: the supported ones and the errors, in order of appearance."""
    found: list[Reference] = []
    errors: list[UnsupportedReference] = []
    if "{{" not in template:
        return found, errors
    for m in REFERENCE_PATTERN.finditer(template):
        ref = _parse(m.group(0), m.group(1))
        if isinstance(ref, Reference):
            found.append(ref)
        else:
            errors.append(ref)
    return found, errors


def parse_references(template: str) -> list[Reference]:
    """The references in ``template`` in order; raises :class:`UnsupportedReference` on the first bad one."""
    found, errors = scan_references(template)
    if errors:
        raise errors[0]
    return found


def substitute(template: str, resolve: Callable[[Reference], str]) -> str:
    """Replace every reference with ``resolve(ref)``, in one pass (results are not re-expanded).

    Raises :class:`UnsupportedReference` for a reference outside the supported set; compiled
    templates never contain one.
    """
    if "{{" not in template:
        return template

    def _one(m: re.Match[str]) -> str:
        return resolve(parse_reference(m.group(0)))

    return REFERENCE_PATTERN.sub(_one, template)
