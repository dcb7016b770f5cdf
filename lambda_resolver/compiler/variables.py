"""``${...}`` substitution as ``databricks bundle validate`` does it, offline.

Resolved here: ``${var.<name>}`` (and ``${variables.<name>.value}``, fields of complex variables),
``${bundle.name}``, ``${bundle.target}``. Checked but kept as written: ``${resources.<type>.<key>...}``
(ids exist only after deploy). Kept as written: everything else (``${workspace.*}``...) and variables
with a ``lookup`` (no value offline); the compiler rejects such leftovers in fields a flow needs.

A variable's value comes from, in order: the ``variables`` argument (``--var``), ``BUNDLE_VAR_<name>``,
``.databricks/bundle/<target>/variable-overrides.json``, ``targets.<t>.variables``, its ``default``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambda_resolver.compiler.model import PathKey, Problems, scalar_text

DOLLAR_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_\-]+|\[[0-9]+\])*)\}")
_TOKEN = re.compile(r"[^.\[\]]+|\[[0-9]+\]")


class _Keep:
    """A reference with no offline value: leave its ``${...}`` text in place."""


KEEP = _Keep()
_LOOKUP = object()
_MISSING = object()
_FIELDS = frozenset({"default", "lookup", "description", "type", "value"})  # variable.Variable
# A target's variable in full form (config/root.go: allowedVariableDefinitions); anything else
# there is the value itself.
_FULL_FORMS = ({"default", "type", "description"}, {"default", "type"}, {"default", "description"},
               {"lookup", "description"}, {"default"}, {"lookup"})  # fmt: skip


@dataclass
class VariableDef:
    name: str
    path: PathKey  # where it is declared, for problems
    raw: Any = _MISSING  # the value before substitution; _LOOKUP / _MISSING when it has none
    complex: bool = False  # `type: complex`: its value may be a mapping or a list
    fixed: bool = False  # given with `value:`, which nothing overrides


def declared_variables(spec: object, problems: Problems) -> dict[str, VariableDef]:
    """The top-level ``variables`` mapping, read as the CLI's ``variable.Variable``.

    ``value`` gives the value outright, ``default`` a default (an empty ``default:`` is none),
    ``lookup`` a deploy-time id. A declaration that is not a mapping, and unknown fields in one,
    are warnings: the CLI drops them.
    """
    out: dict[str, VariableDef] = {}
    if spec is None:
        return out
    if not isinstance(spec, dict):
        problems.add("bad_config", "'variables' must be a mapping of name to definition", path=("variables",))
        return out
    for name, body in spec.items():
        d = VariableDef(name, ("variables", name))
        if body is not None and not isinstance(body, dict):
            problems.warn(
                "bad_variable",
                f"variable '{name}' is declared as {body!r}; a declaration is a mapping such as "
                f"{{description: ..., default: {body!r}}}: the Databricks CLI ignores this one",
                path=d.path,
            )
            continue
        fields: dict[str, Any] = body or {}
        for key in sorted(set(fields) - _FIELDS):
            problems.warn(
                "unknown_field",
                f"unknown field '{key}' in variable '{name}' (it takes description, default, type, "
                f"lookup); the Databricks CLI ignores it",
                path=(*d.path, key),
            )
        d.complex = fields.get("type") == "complex"
        if fields.get("value") is not None:
            d.raw, d.fixed = fields["value"], True
        elif fields.get("lookup") is not None:
            d.raw = _LOOKUP
        elif fields.get("default") is not None:
            d.raw = fields["default"]
        out[name] = d
    return out


def assign_values(
    defs: dict[str, VariableDef],
    problems: Problems,
    *,
    target: str | None,
    target_values: object,
    overrides_file: Mapping[str, Any],
    environ: Mapping[str, str],
    overrides: Mapping[str, Any],
) -> None:
    """Apply, lowest precedence first, the target's values, the overrides file, the environment, --var."""
    if isinstance(target_values, dict):
        for name, value in target_values.items():
            path: PathKey = ("targets", target or "", "variables", name)
            if name not in defs:
                problems.add(
                    "unknown_variable",
                    f"target '{target}' sets variable '{name}', which is not declared; declare it under "
                    f"top-level 'variables' (with a description and a default)",
                    path=path,
                )
                continue
            d = defs[name]
            if d.fixed:
                continue
            if isinstance(value, dict) and set(value) in _FULL_FORMS:
                if "lookup" in value:
                    d.raw = _LOOKUP
                elif value.get("default") is not None:
                    d.raw = value["default"]
            elif value is not None:
                d.raw = value
    for name, value in overrides_file.items():
        if name in defs and not defs[name].fixed:
            defs[name].raw = value
    for name, d in defs.items():
        env = environ.get(f"BUNDLE_VAR_{name}")
        if env is not None and not d.fixed:
            d.raw = env
    for name, value in overrides.items():
        if name not in defs:
            problems.add(
                "unknown_variable",
                f"a value was passed for variable '{name}' (--var), but the bundle declares no such "
                f"variable; declared: {', '.join(sorted(defs)) or 'none'}",
            )
        elif defs[name].complex or defs[name].fixed:
            why = "is of type complex" if defs[name].complex else "is given with `value:`"
            problems.add(
                "bad_variable_value",
                f"--var {name}=...: variable '{name}' {why}, which --var cannot set; set it in the "
                f"bundle (targets.<target>.variables) instead",
                path=defs[name].path,
            )
        else:
            defs[name].raw = value
    for name, d in defs.items():
        if d.raw is _MISSING:
            problems.add(
                "missing_variable_value",
                f"variable '{name}' has no value: give it a default, set it under "
                f"targets.{target or '<target>'}.variables, or pass --var {name}=<value> "
                f"(or BUNDLE_VAR_{name})",
                path=d.path,
            )
        elif isinstance(d.raw, (dict, list)) and not d.complex:
            problems.add(
                "bad_variable_value",
                f"variable '{name}' has a mapping or a list as its value but is not declared "
                f"`type: complex`; add `type: complex` to its declaration",
                path=d.path,
            )


class Interpolator:
    """Substitutes ``${...}`` in a config tree, reporting each bad reference once per job."""

    def __init__(
        self,
        defs: dict[str, VariableDef],
        problems: Problems,
        *,
        bundle_name: str,
        target: str | None,
        resources: Mapping[str, Any],
    ) -> None:
        self._defs = defs
        self._problems = problems
        self._bundle = {"name": bundle_name, "target": target}
        self._resources = resources
        self._values: dict[tuple[str, tuple[str, ...]], Any] = {}  # (variable, field path) -> value
        self._resolving: list[tuple[str, tuple[str, ...]]] = []
        self._seen: set[tuple[str, str, str | None]] = set()

    def values(self) -> tuple[dict[str, Any], frozenset[str]]:
        """Every variable's resolved value, and the names of ``lookup`` variables (no offline value)."""
        out: dict[str, Any] = {}
        unresolved: set[str] = set()
        for name, d in self._defs.items():
            value = self._variable(name, [], name, d.path, None, None)
            if d.raw is _LOOKUP:
                unresolved.add(name)
            elif value is not KEEP:
                out[name] = value
        return out, frozenset(unresolved)

    def resolve(self, obj: Any, path: PathKey, job: str | None = None, task: str | None = None) -> Any:
        """A copy of ``obj`` with references substituted; ``path`` locates problems."""
        if isinstance(obj, str):
            return self._string(obj, path, job, task) if "${" in obj else obj
        if isinstance(obj, dict):
            return {k: self.resolve(v, (*path, k), job, task) for k, v in obj.items()}
        if isinstance(obj, list):
            in_tasks = job is not None and task is None and path[-1:] == ("tasks",)
            out = []
            for i, item in enumerate(obj):
                t = task
                if in_tasks and isinstance(item, dict) and isinstance(item.get("task_key"), str):
                    t = item["task_key"]
                out.append(self.resolve(item, (*path, i), job, t))
            return out
        return obj

    def _string(self, text: str, path: PathKey, job: str | None, task: str | None) -> Any:
        whole = DOLLAR_REF.fullmatch(text)
        if whole:  # the whole value: keeps its type (numbers, complex variables)
            value = self._lookup(whole.group(1), path, job, task)
            return text if value is KEEP else copy.deepcopy(value)

        def _one(m: re.Match[str]) -> str:
            value = self._lookup(m.group(1), path, job, task)
            if value is KEEP:
                return m.group(0)
            if isinstance(value, (dict, list)):
                self._report(
                    "bad_variable_use",
                    f"{m.group(0)} is a complex value (a mapping or list) and cannot be part of a "
                    f"string; use it as the whole value of the field",
                    path,
                    job,
                    task,
                    key=m.group(0),
                )
                return m.group(0)
            return scalar_text(value)

        return DOLLAR_REF.sub(_one, text)

    def _lookup(self, expr: str, path: PathKey, job: str | None, task: str | None) -> Any:
        tokens = _TOKEN.findall(expr)
        head = tokens[0]
        if head in ("var", "variables") and len(tokens) >= 2:
            name, rest = tokens[1], tokens[2:]
            if head == "variables":
                if not rest or rest[0] != "value":
                    return KEEP
                rest = rest[1:]
            if name not in self._defs:
                declared = ", ".join(sorted(self._defs)) or "none"
                self._report(
                    "unknown_variable",
                    f"${{{expr}}} refers to variable '{name}', which is not declared; declare it under "
                    f"top-level 'variables' (declared: {declared})",
                    path,
                    job,
                    task,
                    key=name,
                )
                return KEEP
            return self._variable(name, rest, expr, path, job, task)
        if head == "bundle" and len(tokens) == 2 and tokens[1] in self._bundle:
            value = self._bundle[tokens[1]]
            return KEEP if value is None else value
        if head == "resources" and len(tokens) >= 3:
            kind, key = tokens[1], tokens[2]
            group = self._resources.get(kind)
            if not isinstance(group, dict) or key not in group:
                code = "unknown_job" if kind == "jobs" else "unknown_resource"
                self._report(
                    code,
                    f"${{{expr}}} refers to resources.{kind}.{key}, which the bundle does not define; "
                    f"check the key (defined {kind}: {', '.join(sorted(group or {})) or 'none'})",
                    path,
                    job,
                    task,
                    key=f"{kind}.{key}",
                )
        return KEEP

    def _variable(  # noqa: PLR0917 - the same arguments as _lookup, plus the variable
        self, name: str, rest: list[str], expr: str, path: PathKey, job: str | None, task: str | None
    ) -> Any:
        """The value of ``var.<name>`` and then its fields ``rest``, resolving only what is read.

        Complex variables may read each other's fields (``a.x`` from ``b``, ``b.y`` from ``a``):
        only a field that needs itself is a cycle, as in the CLI's field-by-field resolution.
        """
        d = self._defs[name]
        if d.raw is _LOOKUP or d.raw is _MISSING:
            return KEEP
        node: Any = d.raw
        walked: tuple[str, ...] = ()
        for tok in rest:
            if isinstance(node, str) and "${" in node:  # a field that is itself a reference
                node = self._part(name, walked, node)
                if node is KEEP:
                    return KEEP
            if tok.startswith("[") and isinstance(node, list) and int(tok[1:-1]) < len(node):
                node = node[int(tok[1:-1])]
            elif isinstance(node, dict) and tok in node:
                node = node[tok]
            else:
                self._report(
                    "bad_variable_use",
                    f"${{{expr}}}: the variable's value has no '{tok}'",
                    path,
                    job,
                    task,
                    key=expr,
                )
                return KEEP
            walked = (*walked, tok)
        return self._part(name, walked, node)

    def _part(self, name: str, walked: tuple[str, ...], node: Any) -> Any:
        """``node`` (the raw value of ``var.<name>`` at ``walked``) resolved, once; cycles reported."""
        key = (name, walked)
        if key in self._values:
            return self._values[key]
        if key in self._resolving:
            self._cycle(self._resolving[self._resolving.index(key) :])
            return KEEP
        self._resolving.append(key)
        try:
            value = self.resolve(node, (*self._defs[name].path, *walked))
        finally:
            self._resolving.pop()
        self._values[key] = value
        return value

    def _cycle(self, keys: list[tuple[str, tuple[str, ...]]]) -> None:
        shown = [".".join((n, *w)) for n, w in keys]
        chain = " → ".join([*shown, shown[0]])
        first = self._defs[keys[0][0]]
        if any(isinstance(self._defs[n].raw, (dict, list)) for n, _ in keys):
            # the CLI gives up after 12 rounds with a warning (acceptance/bundle/variables/complex-cycle)
            self._report_at(
                "variable_cycle",
                f"complex variables refer to each other in a cycle: {chain}; these references "
                f"stay unresolved",
                first.path,
                key=chain,
                severity="warning",
            )
            return
        self._report_at(
            "variable_cycle", f"variables refer to each other in a cycle: {chain}", first.path, key=chain
        )

    def _report_at(
        self, code: str, message: str, path: PathKey, *, key: str, severity: str = "error"
    ) -> None:
        if (code, key, None) in self._seen:
            return
        self._seen.add((code, key, None))
        self._problems.add(code, message, path=path, severity=severity)

    def _report(
        self, code: str, message: str, path: PathKey, job: str | None, task: str | None, *, key: str
    ) -> None:
        if (code, key, job) in self._seen:
            return
        self._seen.add((code, key, job))
        self._problems.add(code, message, path=path, job=job, task=task)
