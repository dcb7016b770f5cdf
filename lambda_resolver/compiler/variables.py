"""``${...}`` substitution as ``databricks bundle validate`` does it, offline.

Resolved here: ``${var.<name>}`` (and ``${variables.<name>.value}``, fields of complex variables),
``${bundle.name}``, ``${bundle.target}``. Checked but kept as written: ``${resources.<type>.<key>...}``
(ids exist only after deploy). Kept as written: everything else (``${workspace.*}``...) and variables
with a ``lookup`` (no value offline); the compiler rejects such leftovers in fields a flow needs.

Where a variable's value comes from is :mod:`lambda_resolver.compiler.var_decls`. Complex variables
are resolved field by field, so two of them may read each other's fields.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from lambda_resolver.compiler.bundle import PathKey, Problems, scalar_text
from lambda_resolver.compiler.var_decls import LOOKUP, MISSING, VariableDef

DOLLAR_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_\-]+|\[[0-9]+\])*)\}")
_TOKEN = re.compile(r"[^.\[\]]+|\[[0-9]+\]")


class _Keep:
    """A reference with no offline value: leave its ``${...}`` text in place."""


KEEP = _Keep()


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
            if d.raw is LOOKUP:
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
        if d.raw is LOOKUP or d.raw is MISSING:
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
