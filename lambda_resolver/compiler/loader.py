"""Reading a bundle: ``databricks.yml``, its includes, one target's overrides, then variables.

Mirrors what ``databricks bundle validate`` does offline (``bundle/config/loader``), collecting
every problem instead of stopping at the first. Include globs that match nothing are fine; a plain
path that is missing is not; an include may point outside the bundle root (paths in it stay
relative to that file), must be YAML or JSON, and an ``include`` inside an included file is ignored
with a warning. An unknown top-level key is a warning (and dropped) unless it only holds YAML
anchors; the legacy ``environments`` is read as ``targets``. A resource key defined in two files is
a problem. Target overrides merge into the resources like the CLI does: mappings key by key,
``tasks`` by ``task_key``, ``job_clusters`` by ``job_cluster_key``, ``environments`` by
``environment_key``, ``parameters`` by ``name``; other lists are appended.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lambda_resolver.compiler.bundle import (
    FLOW,
    LAKEHOOK_TAG,
    Bundle,
    JobResource,
    PathKey,
    Problems,
    Source,
    SourceMap,
)
from lambda_resolver.compiler.includes import include_matches, merge_include
from lambda_resolver.compiler.schema import check_shapes
from lambda_resolver.compiler.targets import apply_target, overrides_file, select_target
from lambda_resolver.compiler.var_decls import assign_values, declared_variables
from lambda_resolver.compiler.variables import Interpolator
from lambda_resolver.compiler.yamlsrc import Loaded, YamlError, load_yaml

BUNDLE_FILES = ("databricks.yml", "databricks.yaml")
TOP_LEVEL_KEYS = frozenset(
    {"artifacts", "bundle", "environments", "experimental", "include", "permissions", "presets", "python",
     "resources", "run_as", "scripts", "sync", "targets", "variables", "workspace"}
)  # fmt: skip
_KEYED_LISTS = {"tasks": "task_key", "job_clusters": "job_cluster_key", "environments": "environment_key",
                "parameters": "name"}  # fmt: skip
_CONFIG_SUFFIXES = (".yml", ".yaml", ".json")


def read_bundle(
    root: Path,
    target: str | None,
    variables: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Bundle:
    """Load and resolve the bundle at ``root``; problems are collected on ``Bundle.problems``."""
    root = Path(root).resolve()
    sources = SourceMap()
    problems = Problems(sources)
    main = next((name for name in BUNDLE_FILES if (root / name).is_file()), None)
    if main is None:
        problems.add(
            "missing_bundle",
            f"no databricks.yml in {root}: run from the bundle's root directory or pass --bundle DIR",
        )
        return Bundle(root=root, name="", target=target, jobs={}, problems=tuple(problems.errors))
    reader = _Reader(root, sources, problems)
    config = reader.read_main(main)
    if config is not None:
        reader.read_includes(config)
    return reader.finish(config or {}, target, variables or {}, os.environ if environ is None else environ)


class _Reader:
    def __init__(self, root: Path, sources: SourceMap, problems: Problems) -> None:
        self.root = root
        self.sources = sources
        self.problems = problems
        self.files: dict[str, Loaded] = {}
        self.main = ""

    def _load(self, path: Path, rel: str) -> dict[str, Any] | None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.problems.add("unreadable_file", f"cannot read {rel}: {exc}", file=rel)
            return None
        try:
            loaded = load_yaml(text)
        except YamlError as exc:
            message = exc.message if exc.code != "yaml_syntax" else f"invalid YAML: {exc.message}"
            self.problems.add(exc.code, message, file=rel, line=exc.line)
            return None
        for dup_path, line in loaded.duplicates:
            is_job = len(dup_path) == 3 and dup_path[:2] == ("resources", "jobs")
            self.problems.add(
                "duplicate_job" if is_job else "duplicate_key",
                f"'{dup_path[-1]}' is defined twice in the same mapping ({'.'.join(map(str, dup_path))}); "
                f"YAML keeps only the last one: rename or remove one",
                file=rel,
                line=line,
                job=str(dup_path[2]) if is_job else None,
            )
        if loaded.data is None:
            loaded.data = {}
        if not isinstance(loaded.data, dict):
            self.problems.add("bad_config", "a bundle file must be a YAML mapping", file=rel, line=1)
            return None
        for key in [k for k in loaded.data if k not in TOP_LEVEL_KEYS]:
            value = loaded.data.pop(key)  # the CLI drops it (libs/dyn/convert/normalize.go)
            if loaded.only_anchors((key,), value):
                continue  # `definitions:` and the like: there to be referred to with *name
            close = difflib.get_close_matches(key, TOP_LEVEL_KEYS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            self.problems.warn(
                "unknown_field",
                f"unknown top-level key '{key}'{hint}: the Databricks CLI ignores it; keys that only "
                f"hold YAML anchors (e.g. under `definitions:`) are fine",
                file=rel,
                line=loaded.lines.get((key,)),
            )
        self.files[rel] = loaded
        return loaded.data

    def read_main(self, name: str) -> dict[str, Any] | None:
        self.main = name
        data = self._load(self.root / name, name)
        if data is not None:
            self.sources.add(name, self.files[name].lines)
        return data

    def read_includes(self, config: dict[str, Any]) -> None:
        includes = config.get("include") or []
        if not isinstance(includes, list):
            self.problems.add("bad_config", "'include' must be a list of paths or globs", path=("include",))
            return
        seen = {self.main}
        for i, pattern in enumerate(includes):
            if not isinstance(pattern, str) or not pattern:
                self.problems.add(
                    "bad_config", "an 'include' entry must be a path or a glob", path=("include", i)
                )
                continue
            for path in include_matches(self.root, i, pattern, self.problems):
                rel = Path(os.path.relpath(path, self.root)).as_posix()
                if rel in seen:
                    continue
                seen.add(rel)
                if not rel.endswith(_CONFIG_SUFFIXES):
                    self.problems.add(
                        "bad_include",
                        f"include '{pattern}' matches {rel}, which is not a YAML or JSON file: only "
                        f"bundle configuration can be included (list files to upload under "
                        f"sync.include instead)",
                        path=("include", i),
                    )
                    continue
                data = self._load(path, rel)
                if data is not None:
                    merge_include(
                        config,
                        data,
                        rel,
                        lines=self.files[rel].lines,
                        sources=self.sources,
                        problems=self.problems,
                    )

    def finish(
        self,
        config: dict[str, Any],
        target: str | None,
        overrides: Mapping[str, Any],
        environ: Mapping[str, str],
    ) -> Bundle:
        problems = self.problems
        section = self._environments(config)
        target, tbody = select_target(config, target, problems)
        if tbody:
            prefix: PathKey = ("targets", target or "")
            origin = self.sources.where(prefix)
            file = origin.file if origin else self.main
            loaded = self.files.get(file)
            written: PathKey = (section, target or "")
            lines = {p[2:]: n for p, n in (loaded.lines if loaded else {}).items() if p[:2] == written}
            apply_target(config, tbody, sources=self.sources, file=file, lines=lines)
        bundle_cfg = config.get("bundle")
        name = bundle_cfg.get("name") if isinstance(bundle_cfg, dict) else None
        if not isinstance(name, str) or not name:
            if self.main in self.files:  # else databricks.yml could not be read: reported already
                problems.add("bad_config", "databricks.yml needs bundle.name", file=self.main, line=1)
            name = self.root.name
        defs = declared_variables(config.get("variables"), problems)
        assign_values(
            defs,
            problems,
            target=target,
            target_values=(tbody or {}).get("variables"),
            overrides_file=overrides_file(self.root, target),
            environ=environ,
            overrides=overrides,
        )
        resources = config.get("resources") or {}
        if not isinstance(resources, dict):
            problems.add("bad_config", "'resources' must be a mapping", path=("resources",))
            resources = {}
        interp = Interpolator(defs, problems, bundle_name=name, target=target, resources=resources)
        values, unresolved = interp.values()
        resolved: dict[str, Any] = {}
        for key, value in config.items():
            if key in ("variables", "targets", "include"):
                resolved[key] = value
            elif key != "resources":
                resolved[key] = interp.resolve(value, (key,))
        res_out: dict[str, Any] = {}
        for kind, group in resources.items():
            if kind == "jobs" and isinstance(group, dict):
                res_out[kind] = {
                    k: interp.resolve(v, ("resources", kind, k), job=k) for k, v in group.items()
                }
            else:
                res_out[kind] = interp.resolve(group, ("resources", kind))
        resolved["resources"] = res_out
        return Bundle(
            root=self.root,
            name=name,
            target=target,
            jobs=self._jobs(res_out.get("jobs")),
            mode=tbody.get("mode") if tbody and isinstance(tbody.get("mode"), str) else None,
            variables=values,
            unresolved_variables=unresolved,
            config=resolved,
            problems=tuple(problems.errors),
            warnings=tuple(problems.warnings),
            sources=self.sources,
        )

    def _environments(self, config: dict[str, Any]) -> str:
        """Read the legacy ``environments`` as ``targets`` (``mutator/environments_compat.go``).

        Returns the key the targets are written under.
        """
        if "environments" not in config:
            return "targets"
        if "targets" in config:
            self.problems.add(
                "bad_config",
                "both 'environments' and 'targets' are set; 'environments' is the old name of "
                "'targets': move its entries under 'targets'",
                path=("environments",),
            )
            config.pop("environments")
            return "targets"
        config["targets"] = config.pop("environments")
        self.sources.alias(("environments",), ("targets",))
        return "environments"

    def _jobs(self, jobs: object) -> dict[str, JobResource]:
        if jobs is None:
            return {}
        if not isinstance(jobs, dict):
            self.problems.add("bad_config", "'resources.jobs' must be a mapping", path=("resources", "jobs"))
            return {}
        out: dict[str, JobResource] = {}
        for key, spec in jobs.items():
            base: PathKey = ("resources", "jobs", key)
            if not isinstance(spec, dict):
                self.problems.add(
                    "invalid_job",
                    "a job must be a mapping of settings (name, tasks, ...)",
                    path=base,
                    job=key,
                )
                continue
            tags = spec.get("tags")
            if not (isinstance(tags, dict) and tags.get(LAKEHOOK_TAG) == FLOW):
                for field in check_shapes(key, spec, self.problems, flow=False):
                    del spec[field]  # as the CLI drops it: what reads the job later never sees it
            task_sources: dict[str, Source] = {}
            tasks = spec.get("tasks")
            for i, task in enumerate(tasks if isinstance(tasks, list) else []):
                src = self.sources.where((*base, "tasks", i))
                if isinstance(task, dict) and isinstance(task.get("task_key"), str) and src is not None:
                    task_sources.setdefault(task["task_key"], src)
            source = self.sources.where(base)
            out[key] = JobResource(key, spec, source or Source(self.main), task_sources)
        return out
