"""Targets: choosing one, and merging its overrides into the bundle like the Databricks CLI.

Mappings merge key by key (the target wins); ``tasks`` merge by ``task_key``, ``job_clusters`` by
``job_cluster_key``, ``environments`` by ``environment_key``, ``parameters`` by ``name``; other lists
are appended. Source lines move with the values, so problems point into the target's YAML.
"""

from __future__ import annotations

import copy
import difflib
import json
from pathlib import Path
from typing import Any

from lambda_resolver.compiler.bundle import PathKey, Problems, SourceMap

TARGET_KEYS = frozenset({
    "artifacts", "bundle", "cluster_id", "compute_id", "default", "git", "mode", "permissions", "presets",
    "resources", "run_as", "sync", "variables", "workspace",
})  # fmt: skip
_TRUE = frozenset({"true", "y", "Y", "yes", "Yes", "YES", "on", "On", "ON"})
_FALSE = frozenset({"false", "n", "N", "no", "No", "NO", "off", "Off", "OFF"})
_KEYED_LISTS = {
    "tasks": "task_key",
    "job_clusters": "job_cluster_key",
    "environments": "environment_key",
    "parameters": "name",
}


def select_target(
    config: dict[str, Any], target: str | None, problems: Problems
) -> tuple[str | None, dict[str, Any]]:
    """The target to use and its body; problems when unclear (``mutator/select_default_target.go``).

    Given, else the only target there is, else the one marked ``default: true``.
    """
    targets = config.get("targets") or {}
    if not isinstance(targets, dict):
        problems.add("bad_config", "'targets' must be a mapping", path=("targets",))
        return target, {}
    names = ", ".join(targets) or "none"
    _unknown_keys(targets, problems)
    if target is not None:
        if target in targets:
            body = targets[target]
            return target, body if isinstance(body, dict) else {}
        if targets or target != "default":
            problems.add(
                "unknown_target",
                f"no target '{target}' in the bundle (targets: {names})",
                path=("targets",),
            )
        return target, {}
    defaults = [t for t, b in targets.items() if isinstance(b, dict) and _default_flag(t, b, problems)]
    if len(targets) == 1:
        only = next(iter(targets))
        body = targets[only]
        return only, body if isinstance(body, dict) else {}
    if len(defaults) > 1:
        problems.add(
            "bad_config",
            f"several targets are marked default: {', '.join(defaults)}; keep one",
            path=("targets",),
        )
    if defaults:
        return defaults[0], targets[defaults[0]]
    if targets:
        problems.add(
            "no_target",
            f"no target given and none is marked 'default: true'; pass one (-t/--target) or mark "
            f"one default (targets: {names})",
            path=("targets",),
        )
        return None, {}
    return "default", {}


def _unknown_keys(targets: dict[str, Any], problems: Problems) -> None:
    """Keys a target does not have (config.Target): the CLI warns and ignores them."""
    for name, body in targets.items():
        for key in [k for k in body if k not in TARGET_KEYS] if isinstance(body, dict) else []:
            close = difflib.get_close_matches(key, TARGET_KEYS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.warn(
                "unknown_field",
                f"unknown field '{key}' in target '{name}'{hint}: the Databricks CLI ignores it",
                path=("targets", name, key),
            )


def _default_flag(name: str, body: dict[str, Any], problems: Problems) -> bool:
    """``targets.<name>.default`` as the CLI reads a bool (``yes``/``on`` too); a warning otherwise."""
    value = body.get("default", False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in _TRUE | _FALSE:
        return value in _TRUE
    shown = "nothing (null)" if value is None else repr(value)
    problems.warn(
        "bad_target_default",
        f"targets.{name}.default is {shown}, not true or false; the Databricks CLI ignores it, so "
        f"'{name}' is not the default target: write `default: true` (or remove the line)",
        path=("targets", name, "default"),
    )
    return False


def apply_target(
    config: dict[str, Any], tbody: dict[str, Any], *, sources: SourceMap, file: str, lines: dict[PathKey, int]
) -> None:
    """Merge a target's body into ``config`` in place; ``lines`` are the target's, relative to it."""
    merger = _Merger(sources, file, lines)
    for key, value in tbody.items():
        if key in ("default", "mode", "variables") or key not in TARGET_KEYS:
            continue
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            merger.merge(config[key], value, (key,))
        else:
            config[key] = copy.deepcopy(value)
            merger.relocate((key,), (key,))


def overrides_file(root: Path, target: str | None) -> dict[str, Any]:
    """``.databricks/bundle/<target>/variable-overrides.json``, as the CLI writes it (or nothing)."""
    path = root / ".databricks" / "bundle" / (target or "default") / "variable-overrides.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class _Merger:
    """Merges a target's overrides in place, moving source lines to where the values land."""

    def __init__(self, sources: SourceMap, file: str, lines: dict[PathKey, int]) -> None:
        self.sources = sources
        self.file = file
        self.lines = lines  # the target's own lines, relative to targets.<t>

    def relocate(self, src: PathKey, dst: PathKey) -> None:
        n = len(src)
        for path, line in self.lines.items():
            if path[:n] == src:
                self.sources.set(dst + path[n:], self.file, line)

    def merge(
        self, base: dict[str, Any], over: dict[str, Any], path: PathKey, src: PathKey | None = None
    ) -> None:
        src = path if src is None else src
        for key, value in over.items():
            bp, sp = (*path, key), (*src, key)
            cur = base.get(key)
            if isinstance(cur, dict) and isinstance(value, dict):
                self.merge(cur, value, bp, sp)
            elif isinstance(cur, list) and isinstance(value, list):
                by = _KEYED_LISTS.get(key)
                for j, item in enumerate(value):
                    idx = _find(cur, by, item) if by else None
                    if idx is not None:
                        self.merge(cur[idx], item, (*bp, idx), (*sp, j))
                    else:
                        cur.append(copy.deepcopy(item))
                        self.relocate((*sp, j), (*bp, len(cur) - 1))
            else:
                base[key] = copy.deepcopy(value)
                self.relocate(sp, bp)


def _find(items: list[Any], by: str, item: Any) -> int | None:
    if not isinstance(item, dict) or by not in item:
        return None
    for i, existing in enumerate(items):
        if isinstance(existing, dict) and existing.get(by) == item[by]:
            return i
    return None


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> None:
    """Merge ``over`` into ``base`` in place: mappings recursively, anything else replaced."""
    for key, value in over.items():
        if isinstance(base.get(key), dict) and isinstance(value, dict):
            deep_merge(base[key], value)
        else:
            base[key] = value
