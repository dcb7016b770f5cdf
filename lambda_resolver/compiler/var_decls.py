"""Bundle variables: their declarations and where each one's value comes from, as the CLI reads them.

A declaration is the CLI's ``variable.Variable``: ``value`` gives the value outright (nothing
overrides it), ``default`` a default (an empty ``default:`` is none), ``lookup`` a deploy-time id,
``type: complex`` allows a mapping or a list. A variable's value then comes from, lowest first:
``targets.<t>.variables``, ``.databricks/bundle/<target>/variable-overrides.json``,
``BUNDLE_VAR_<name>``, ``--var``. Substitution is :mod:`lambda_resolver.compiler.variables`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambda_resolver.compiler.bundle import PathKey, Problems

LOOKUP = object()  # a `lookup` variable: no value offline
MISSING = object()  # no value at all
_FIELDS = frozenset({"default", "lookup", "description", "type", "value"})  # variable.Variable
# A target's variable in full form (config/root.go: allowedVariableDefinitions); anything else
# there is the value itself.
_FULL_FORMS = ({"default", "type", "description"}, {"default", "type"}, {"default", "description"},
               {"lookup", "description"}, {"default"}, {"lookup"})  # fmt: skip


@dataclass
class VariableDef:
    name: str
    path: PathKey  # where it is declared, for problems
    raw: Any = MISSING  # the value before substitution; LOOKUP / MISSING when it has none
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
        kind = fields.get("type")
        if kind is not None and kind != "complex":
            problems.warn(
                "bad_variable",
                f"variable '{name}' has type {kind!r}; the only type is 'complex' (a mapping or list "
                f"value): remove `type` for a plain value",
                path=(*d.path, "type"),
            )
        d.complex = kind == "complex"
        if fields.get("value") is not None:
            d.raw, d.fixed = fields["value"], True
        elif fields.get("lookup") is not None:
            d.raw = LOOKUP
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
                    d.raw = LOOKUP
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
        if d.raw is MISSING:
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
