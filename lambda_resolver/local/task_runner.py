"""Runs one task of a local job run in its own process: ``python -m lambda_resolver.local.task_runner SPEC``.

The parent (:class:`~lambda_resolver.local.subprocess_executor.SubprocessExecutor`) writes
``SPEC``, a JSON file saying what to run — a notebook, a Python file or a wheel entry point —
with which widgets and arguments; this module runs it the way a Databricks job would, with
``dbutils``, ``spark``, ``display`` and ``displayHTML`` as globals (and builtins), and writes the
outcome to ``SPEC["result_file"]``: ``{"result": "SUCCESS"|"FAILED", "output", "error",
"error_trace"}``. stdout and stderr are the task's log (the parent points them at a file).

Start-up cost matters (a flow starts many tasks): only the standard library's light modules are
imported before the task's own code runs; ``traceback`` only on failure.
"""

from __future__ import annotations

import builtins
import json
import os
import sys

from lambda_resolver.local.dbutils_stub import DBUtils, NotebookExit
from lambda_resolver.local.notebook_runner import TaskContext, run_notebook, run_script, say
from lambda_resolver.local.spark_session import LazySpark

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_ERROR_CHARS = 16_384
_INTERNAL = tuple(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
    for name in ("task_runner.py", "notebook_runner.py", "notebook_source.py")
)


class Terminated(SystemExit):
    """SIGTERM (a cancel or a timeout): unwinds the task so ``finally`` blocks run."""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m lambda_resolver.local.task_runner SPEC.json", file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8") as f:
        spec: dict[str, Any] = json.load(f)
    _on_sigterm_unwind()
    _exit_with_parent(spec.get("parent_pid"))
    outcome = run(spec)
    tmp = spec["result_file"] + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(outcome, f)
    os.replace(tmp, spec["result_file"])
    return 0 if outcome["result"] == "SUCCESS" else 1


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the task ``spec`` describes; never raises (the outcome says what happened)."""
    state_dir = spec["state_dir"]
    dbutils = DBUtils(
        widgets=spec.get("widgets") or {},
        environ=os.environ,
        secrets_file=spec.get("secrets_file"),
        task_values_file=spec["task_values_file"],
        task_key=spec["task_key"],
        task_keys=list(spec.get("task_keys") or [spec["task_key"]]),
        state_dir=state_dir,
    )
    ctx = TaskContext(
        dbutils, LazySpark(os.path.join(state_dir, "spark-warehouse"), f"lakehook-{spec['task_key']}")
    )
    for name, value in ctx.globals().items():
        setattr(builtins, name, value)
    kind = spec["kind"]
    if kind not in ("notebook", "python_file", "python_wheel"):
        return {
            "result": "FAILED",
            "output": None,
            "error": f"ValueError: unknown task kind {kind!r}",
            "error_trace": None,
        }
    what = spec.get("path") or spec.get("package_name")
    say(f"running {kind} {what} (task {spec['task_key']}, run {spec['run_id']})")
    try:
        output = None
        if kind == "notebook":
            run_notebook(spec["path"], ctx)
        elif kind == "python_file":
            run_script(spec["path"], list(spec.get("argv") or []), ctx)
        else:
            _run_wheel(spec["package_name"], spec["entry_point"], list(spec.get("argv") or []))
    except NotebookExit as done:
        output = done.value
    except SystemExit as stop:
        if stop.code not in (None, 0) or isinstance(stop, Terminated):
            return _failed(stop, ctx)
        output = None
    except BaseException as exc:  # noqa: BLE001 - whatever the task raised is its failure
        return _failed(exc, ctx)
    finally:
        _stop_spark(ctx.spark)
    say("finished" + ("" if output is None else f" with exit value ({len(output)} characters)"))
    return {"result": "SUCCESS", "output": output, "error": None, "error_trace": None}


def _failed(exc: BaseException, ctx: TaskContext) -> dict[str, Any]:
    import traceback

    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename in _INTERNAL:
        tb = tb.tb_next  # the user's frames only: the runner's are noise
    trace = "".join(traceback.format_exception(type(exc), exc, tb))
    if ctx.where:
        say(f"{ctx.where} failed")
    print(trace, file=sys.stderr, end="", flush=True)
    text = str(exc)
    if isinstance(exc, SystemExit) and not isinstance(exc, Terminated):
        text = str(exc.code)
    error = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return {"result": "FAILED", "output": None, "error": error[:MAX_ERROR_CHARS], "error_trace": trace}


def _run_wheel(package_name: str, entry_point: str, argv: list[str]) -> None:
    """Call ``entry_point`` of ``package_name`` as Databricks does: the package's entry point of
    that name (console_scripts first), else the function ``<package>.<entry_point>``."""
    import importlib
    from importlib import metadata

    sys.argv = [entry_point, *argv]
    found = None
    for dist_name in dict.fromkeys(
        [package_name, package_name.replace("_", "-"), package_name.replace("-", "_")]
    ):
        try:
            eps = [ep for ep in metadata.distribution(dist_name).entry_points if ep.name == entry_point]
        except metadata.PackageNotFoundError:
            continue
        eps.sort(key=lambda ep: ep.group != "console_scripts")
        found = eps[0] if eps else None
        break
    if found is not None:
        found.load()()
        return
    try:
        module = importlib.import_module(package_name.replace("-", "_"))
    except ImportError:
        raise ModuleNotFoundError(
            f"python_wheel_task: package {package_name!r} is not installed in the environment lakehook "
            f"runs in ({sys.executable}): pip install it there (pip install -e . for the bundle's own wheel)"
        ) from None
    fn = getattr(module, entry_point, None)
    if not callable(fn):
        raise AttributeError(  # noqa: TRY004 - what Python raises for a missing attribute
            f"python_wheel_task: package {package_name!r} has no entry point {entry_point!r}"
        )
    fn()


def _stop_spark(spark: LazySpark) -> None:
    if spark.started:
        try:
            spark.stop()
        except Exception as exc:  # noqa: BLE001 - the task's outcome is already decided
            say(f"stopping spark failed: {type(exc).__name__}: {exc}")


def _on_sigterm_unwind() -> None:
    import signal

    def handler(signum: int, frame: object) -> None:
        raise Terminated("the task process received SIGTERM (the run was canceled or timed out)")

    signal.signal(signal.SIGTERM, handler)


def _exit_with_parent(parent_pid: object) -> None:
    """If the executor's process dies, take this task (and its process group) down with it."""
    if not isinstance(parent_pid, int) or not hasattr(os, "killpg"):
        return
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os.killpg(os.getpgrp(), 9)

    threading.Thread(target=watch, name="lakehook-parent-watch", daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
