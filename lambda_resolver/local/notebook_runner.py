"""Runs a notebook's cells (and plain Python files) the way a Databricks job does, in the task's process.

Python cells run in one namespace that is the process's ``__main__`` (where notebook_lib looks for
``dbutils``), compiled with the notebook's file name and line numbers so tracebacks point at the
notebook. ``%md`` is skipped, ``%sql`` runs through ``spark.sql`` (the last result is ``_sqldf``),
``%run ./other $x=1`` runs the other notebook in the same namespace with those widget values,
``%pip`` is reported, not run; other magics fail before any cell runs.
"""

from __future__ import annotations

import os
import sys
import types

from lambda_resolver.local.dbutils_stub import DBUtils, display, displayHTML
from lambda_resolver.local.notebook_source import (
    SKIPPED_MAGICS,
    Cell,
    check_cells,
    pip_requirements,
    read_notebook,
    split_sql,
)
from lambda_resolver.local.spark_session import HOW_TO, LazySpark, SparkUnavailableError, backend

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_RUN_DEPTH = 16


class NotebookNotFoundError(FileNotFoundError):
    """``%run`` (or a task) names a notebook that is not there locally."""


class TaskContext:
    """What the running cells share: the globals, ``spark``, ``dbutils`` and the cell in progress."""

    def __init__(self, dbutils: DBUtils, spark: LazySpark) -> None:
        self.dbutils, self.spark = dbutils, spark
        self.where = ""

    def globals(self) -> dict[str, Any]:
        return {"dbutils": self.dbutils, "spark": self.spark, "display": display, "displayHTML": displayHTML}


def run_notebook(path: str, ctx: TaskContext) -> None:
    """Run the notebook at ``path`` (a file without the notebook header runs as a script)."""
    cells = read_notebook(path)
    if cells is None:  # a plain .py file as a notebook task: runs as a script, widgets and all
        run_script(path, [path], ctx)
        return
    main_module = new_main(ctx.globals(), None)
    sys.argv = [path]
    with as_main(main_module):
        run_cells(path, cells, main_module.__dict__, ctx, 0)


def run_cells(path: str, cells: list[Cell], ns: dict[str, Any], ctx: TaskContext, depth: int) -> None:
    """Run ``cells`` of the notebook at ``path`` in namespace ``ns`` (``depth``: ``%run`` nesting)."""
    name = os.path.basename(path)
    check_cells(cells, name)
    sql = next((c for c in cells if c.magic == "sql"), None)
    if sql is not None and backend() is None:
        raise SparkUnavailableError(f"cell {sql.index} of {name} is %sql, which needs spark: {HOW_TO}")
    for cell in cells:
        ctx.where = f"cell {cell.index} of {name} ({cell.label}, line {cell.line})"
        if cell.magic in SKIPPED_MAGICS:
            continue
        if cell.magic in (None, "python"):
            exec(compile("\n" * (cell.line - 1) + cell.body, path, "exec"), ns)  # noqa: S102 - the notebook
        elif cell.magic == "sql":
            result = None
            for statement in split_sql(cell.body):
                result = ctx.spark.sql(statement)
            if result is not None:
                ns["_sqldf"] = result  # as on Databricks: the last %sql result, for Python cells
                display(result)
        elif cell.magic == "run":
            if depth >= MAX_RUN_DEPTH:
                raise RecursionError(f"{ctx.where}: %run nested more than {MAX_RUN_DEPTH} deep (a cycle?)")
            target, overrides = run_args(cell.args)
            other = find_notebook(os.path.dirname(path), target, f"{ctx.where}: %run {target}")
            other_cells = read_notebook(other)
            with ctx.dbutils.widgets.overridden(overrides):
                if other_cells is None:
                    exec(compile(read_file(other), other, "exec"), ns)  # noqa: S102 - the included file
                else:
                    run_cells(other, other_cells, ns, ctx, depth + 1)
        elif cell.magic == "pip":
            report_pip(cell, name)


def run_args(args: str) -> tuple[str, dict[str, str]]:
    """``./other $x="1" $y=2`` → ``("./other", {"x": "1", "y": "2"})``."""
    import shlex

    words = shlex.split(args)
    if not words:
        raise ValueError("%run needs a notebook path")
    overrides: dict[str, str] = {}
    for word in words[1:]:
        key, sep, value = word.lstrip("$").partition("=")
        if sep:
            overrides[key] = value
    return words[0], overrides


def find_notebook(base_dir: str, target: str, what: str) -> str:
    """The local file of notebook ``target`` (Databricks paths have no extension)."""
    path = target if os.path.isabs(target) else os.path.join(base_dir, target)
    tried = [path, path + ".py", path + ".ipynb"]
    for candidate in tried:
        if os.path.isfile(candidate):
            return os.path.normpath(candidate)
    raise NotebookNotFoundError(f"{what}: no notebook found locally (tried {', '.join(tried)})")


def report_pip(cell: Cell, name: str) -> None:
    from importlib import metadata

    notes = []
    for req in pip_requirements(cell.args + "\n" + cell.body):
        dist = req.split(";")[0].strip()
        for stop in "<>=!~[ @":
            dist = dist.split(stop)[0]
        try:
            notes.append(f"{req}: installed ({metadata.version(dist)})")
        except (metadata.PackageNotFoundError, ValueError):
            notes.append(f"{req}: NOT installed")
    say(
        f"cell {cell.index} of {name}: %pip is not run locally: install what it names into the "
        f"environment lakehook runs in ({sys.executable}) — {'; '.join(notes) or 'nothing named'}"
    )


def run_script(path: str, argv: list[str], ctx: TaskContext) -> None:
    """Run a Python file as ``__main__`` with ``sys.argv = [path, *argv]``, like ``python path``."""
    module = new_main(ctx.globals(), path)
    sys.argv = [path, *argv]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    with as_main(module):
        exec(compile(read_file(path), path, "exec"), module.__dict__)  # noqa: S102 - the task's script


def new_main(globals_: dict[str, Any], file: str | None) -> types.ModuleType:
    module = types.ModuleType("__main__")
    module.__dict__.update(globals_)
    if file is not None:
        module.__file__ = file
    return module


class as_main:
    """Make ``module`` the process's ``__main__`` (where notebook_lib looks for ``dbutils``)."""

    def __init__(self, module: types.ModuleType) -> None:
        self.module = module
        self.saved: types.ModuleType | None = None

    def __enter__(self) -> None:
        self.saved = sys.modules.get("__main__")
        sys.modules["__main__"] = self.module

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            sys.modules["__main__"] = self.saved


def read_file(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def say(message: str) -> None:
    print(f"lakehook: {message}", file=sys.stderr, flush=True)
