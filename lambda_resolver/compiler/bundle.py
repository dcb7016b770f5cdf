"""What a loaded bundle looks like to the rest of lakehook: jobs as resolved dicts, with their source.

``Bundle`` is the one view of a bundle that the compiler, ``lakehook publish`` and the local
workspace share. Job dicts are what Databricks would deploy after variable substitution; job ids
stay ``${resources.jobs.<key>.id}`` (known only after deploy), see :func:`job_ref_key`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambda_resolver.core.errors import Problem

PathKey = tuple[str | int, ...]

LAKEHOOK_TAG = "lakehook"
FLOW = "flow"
EXTERNAL = "external"
LAKEHOOK_PARAMETER = "lakehook"

_JOB_ID_REF = re.compile(r"\$\{resources\.jobs\.([A-Za-z0-9_\-]+)\.id\}")


def job_ref_key(value: object) -> str | None:
    """The job key in ``"${resources.jobs.<key>.id}"``, or None for anything else (a literal id...)."""
    if isinstance(value, str):
        m = _JOB_ID_REF.fullmatch(value.strip())
        if m:
            return m.group(1)
    return None


@dataclass(frozen=True)
class Source:
    """Where something is defined: a file relative to the bundle root (POSIX) and a 1-based line."""

    file: str
    line: int | None = None


class SourceMap:
    """The file and line of every path in the merged configuration (``("resources", "jobs", k)``...)."""

    def __init__(self) -> None:
        self._where: dict[PathKey, tuple[str, int]] = {}

    def add(
        self, file: str, lines: dict[PathKey, int], prefix: PathKey = (), *, replace: bool = False
    ) -> None:
        """Record ``file``'s lines (paths relative to ``prefix``); earlier files win unless ``replace``."""
        where = self._where
        for path, line in lines.items():
            full = prefix + path if prefix else path
            if replace or full not in where:
                where[full] = (file, line)

    def set(self, path: PathKey, file: str, line: int) -> None:
        """Record (or move) one path's location, e.g. a value a target override put there."""
        self._where[path] = (file, line)

    def alias(self, src: PathKey, dst: PathKey) -> None:
        """Locate everything under ``dst`` where it is under ``src`` (a section read by another name)."""
        n = len(src)
        moved = {dst + p[n:]: hit for p, hit in self._where.items() if p[:n] == src}
        self._where.update(moved)

    def where(self, path: PathKey) -> Source | None:
        """The nearest recorded location at or above ``path``."""
        for n in range(len(path), 0, -1):
            hit = self._where.get(path[:n])
            if hit is not None:
                return Source(hit[0], hit[1])
        return None


class Problems:
    """Collects problems (errors and warnings), locating each one from a config path."""

    def __init__(self, sources: SourceMap) -> None:
        self.sources = sources
        self.items: list[Problem] = []

    def add(
        self,
        code: str,
        message: str,
        *,
        path: PathKey | None = None,
        file: str | None = None,
        line: int | None = None,
        job: str | None = None,
        task: str | None = None,
        severity: str = "error",
    ) -> None:
        if path is not None and (file is None or line is None):
            src = self.sources.where(path)
            if src is not None:
                file = file or src.file
                line = line if line is not None else src.line
        self.items.append(Problem(code, message, file=file, job=job, task=task, line=line, severity=severity))

    def warn(
        self,
        code: str,
        message: str,
        *,
        path: PathKey | None = None,
        file: str | None = None,
        line: int | None = None,
        job: str | None = None,
        task: str | None = None,
    ) -> None:
        """A problem the Databricks CLI only warns about: shown, but the bundle still compiles."""
        self.add(code, message, path=path, file=file, line=line, job=job, task=task, severity="warning")

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.items if not p.is_warning]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.items if p.is_warning]

    def __iter__(self) -> Iterator[Problem]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class JobResource:
    """One ``resources.jobs.<key>`` entry after includes, target overrides and variables.

    ``spec`` is the job as Databricks would deploy it (a plain dict: tasks, notebook paths,
    parameters...). Relative paths in it are relative to the file that defined them: use
    :meth:`resolve_path`.
    """

    key: str
    spec: dict[str, Any]
    source: Source
    task_sources: dict[str, Source] = field(default_factory=dict)

    @property
    def name(self) -> str:
        name = self.spec.get("name")
        return name if isinstance(name, str) and name else self.key

    @property
    def tags(self) -> dict[str, str]:
        tags = self.spec.get("tags")
        if not isinstance(tags, dict):
            return {}
        return {str(k): str(v) for k, v in tags.items()}

    @property
    def lakehook_role(self) -> str | None:
        """The ``lakehook`` tag: ``"flow"``, ``"external"``, None (a plain job), or a typo."""
        return self.tags.get(LAKEHOOK_TAG)

    @property
    def is_flow(self) -> bool:
        return self.lakehook_role == FLOW

    @property
    def is_external(self) -> bool:
        return self.lakehook_role == EXTERNAL

    @property
    def parameters(self) -> dict[str, str]:
        """Job parameters, name → default (``""`` when unset)."""
        out: dict[str, str] = {}
        params = self.spec.get("parameters")
        for p in params if isinstance(params, list) else []:
            if isinstance(p, dict) and isinstance(p.get("name"), str):
                default = p.get("default")
                out[p["name"]] = "" if default is None else scalar_text(default)
        return out

    @property
    def tasks(self) -> list[dict[str, Any]]:
        tasks = self.spec.get("tasks")
        return [t for t in tasks if isinstance(t, dict)] if isinstance(tasks, list) else []

    def task(self, task_key: str) -> dict[str, Any]:
        """The resolved task dict with ``task_key`` (KeyError when there is none)."""
        for t in self.tasks:
            if t.get("task_key") == task_key:
                return t
        raise KeyError(task_key)

    def task_source(self, task_key: str) -> Source:
        """Where the task is defined (a target override may put it in another file than the job)."""
        return self.task_sources.get(task_key, self.source)

    def resolve_path(self, root: Path, path: str, task_key: str | None = None) -> Path:
        """A local path for a path written in this job (``notebook_path``, ``python_file``...).

        Relative paths are relative to the YAML file that wrote them (as in Databricks);
        ``${workspace.file_path}`` is the bundle root (files sync from there).
        """
        prefix = "${workspace.file_path}"
        if path.startswith(prefix):
            return (root / path[len(prefix) :].lstrip("/")).resolve()
        p = Path(path)
        if p.is_absolute():
            return p
        src = self.task_source(task_key) if task_key else self.source
        return ((root / src.file).parent / p).resolve()


@dataclass(frozen=True)
class Bundle:
    """A bundle read for one target: its jobs and everything else, resolved.

    ``problems`` lists the errors found while reading (empty when loaded with ``strict=True``);
    ``warnings`` what the Databricks CLI would only warn about (an unknown field, dropped).
    ``variables`` holds resolved values; variables without an offline value (``lookup``) are in
    ``unresolved_variables`` and their ``${var.x}`` stays as written.
    """

    root: Path
    name: str
    target: str | None
    jobs: dict[str, JobResource]
    mode: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    unresolved_variables: frozenset[str] = frozenset()
    config: dict[str, Any] = field(default_factory=dict, repr=False)
    problems: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()
    sources: SourceMap = field(default_factory=SourceMap, repr=False, compare=False)

    @property
    def production(self) -> bool:
        """Whether the target is ``mode: production`` (a flow's first schedule then starts active)."""
        return self.mode == "production"

    @property
    def flows(self) -> dict[str, JobResource]:
        """Jobs tagged ``lakehook: flow``, by key."""
        return {k: j for k, j in self.jobs.items() if j.is_flow}

    def job(self, key: str) -> JobResource:
        """The job ``resources.jobs.<key>`` (KeyError when the bundle has none)."""
        return self.jobs[key]


def scalar_text(value: object) -> str:
    """A scalar as Databricks writes it in a string field (``true``, not ``True``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)
