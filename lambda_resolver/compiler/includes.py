"""Included files: which files an ``include`` entry names, and merging one into the bundle.

As ``bundle/config/loader/process_root_includes.go`` and ``process_include.go``: entries are paths
or globs relative to ``databricks.yml`` (``**`` is ``*``, as Go's ``filepath.Glob``) and may leave
the bundle root; a plain path must exist; only YAML or JSON files can be included; an ``include``
in an included file is ignored with a warning. A resource or variable defined in two files is an
error.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

from lambda_resolver.compiler.bundle import PathKey, Problems, SourceMap
from lambda_resolver.compiler.targets import deep_merge

GLOB_CHARS = frozenset("*?[")


def include_matches(root: Path, i: int, pattern: str, problems: Problems) -> list[Path]:
    """The files an include names, relative to the bundle root; outside it too, as in the CLI."""
    if os.path.isabs(pattern):
        problems.add(
            "bad_include",
            f"include '{pattern}' is an absolute path; write it relative to databricks.yml",
            path=("include", i),
        )
        return []
    if GLOB_CHARS & set(pattern):  # filepath.Glob: no `**` recursion, as in the CLI
        found = sorted(Path(p) for p in glob.glob(os.path.join(root, pattern)))
        return [p for p in found if p.is_file()]
    path = Path(os.path.normpath(root / pattern))
    if not path.is_file():
        problems.add(
            "missing_include",
            f"include '{pattern}' does not exist (relative to the bundle root); fix the path "
            f"or use a glob such as bundles/*.yml",
            path=("include", i),
        )
        return []
    return [path]


def merge_include(
    config: dict[str, Any],
    data: dict[str, Any],
    rel: str,
    *,
    lines: dict[PathKey, int],
    sources: SourceMap,
    problems: Problems,
) -> None:
    """Merge one included file into ``config``: resources and variables must be new keys."""
    skip: list[PathKey] = []
    for key, value in data.items():
        if key == "include":
            problems.warn(
                "nested_include",
                "'include' in an included file is ignored: only the includes of databricks.yml "
                "are loaded; move these entries there",
                file=rel,
                line=lines.get((key,)),
            )
        elif key == "resources" and isinstance(value, dict):
            res = _mapping_at(config, "resources")
            if res is None:  # databricks.yml's `resources` is not a mapping: reported by finish()
                continue
            for kind, group in value.items():
                if not isinstance(group, dict):
                    continue
                into = _mapping_at(res, kind)
                if into is None:
                    continue
                for rkey, body in group.items():
                    if rkey in into:
                        first = sources.where(("resources", kind, rkey))
                        skip.append(("resources", kind, rkey))
                        problems.add(
                            "duplicate_job" if kind == "jobs" else "duplicate_resource",
                            f"resources.{kind}.{rkey} is already defined in "
                            f"{first.file if first else 'another file'}; resource keys must be unique "
                            f"across the bundle",
                            file=rel,
                            line=lines.get(("resources", kind, rkey)),
                            job=rkey if kind == "jobs" else None,
                        )
                    else:
                        into[rkey] = body
        elif key == "variables" and isinstance(value, dict):
            into = _mapping_at(config, "variables")
            if into is None:  # databricks.yml's `variables` is not a mapping: reported when read
                continue
            for name, body in value.items():
                if name in into:
                    skip.append(("variables", name))
                    problems.add(
                        "duplicate_variable",
                        f"variable '{name}' is declared twice; keep one declaration",
                        file=rel,
                        line=lines.get(("variables", name)),
                    )
                else:
                    into[name] = body
        elif isinstance(value, dict) and isinstance(config.get(key), dict):
            deep_merge(config[key], value)
        else:
            config[key] = value
    if skip:
        lines = {p: n for p, n in lines.items() if not any(p[: len(s)] == s for s in skip)}
    sources.add(rel, lines)


def _mapping_at(parent: dict[str, Any], key: str) -> dict[str, Any] | None:
    """``parent[key]`` as a mapping to merge into: created when missing or empty (``key:`` with no
    value is null in YAML); None when it is something else, which the reader reports."""
    current = parent.get(key)
    if current is None:
        current = parent[key] = {}
    return current if isinstance(current, dict) else None
