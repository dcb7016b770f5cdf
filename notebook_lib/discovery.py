"""Finding this run's callback handle, or deciding the notebook runs outside any flow.

Sources, first non-empty one wins (read at every call, never cached):

1. the explicit ``handle=`` argument;
2. ``--lakehook=<handle>`` or ``--lakehook <handle>`` in ``sys.argv`` (spark_python_task
   parameters, python_wheel_task named parameters);
3. the ``lakehook`` widget, through the ``dbutils`` a notebook already has: a global of
   ``__main__``, the IPython user namespace, or, only on a Databricks runtime
   (``DATABRICKS_RUNTIME_VERSION`` set), ``databricks.sdk.runtime``;
4. the ``LAKEHOOK`` environment variable.

None of them set means off-flow (a notebook run by hand): warn once per process and do
nothing. A handle that is present but malformed is an error, never silently ignored.
"""

from __future__ import annotations

import os
import sys

from notebook_lib.handle import Handle, decode_handle

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

ENV_VAR = "LAKEHOOK"
ARG_NAME = "--lakehook"
WIDGET_NAME = "lakehook"

OFF_FLOW_MESSAGE = (
    "lakehook: no callback handle (no handle= argument, no --lakehook argument, no 'lakehook' "
    "widget value, no LAKEHOOK environment variable): this run is not part of a lakehook flow, "
    "so notify_done/notify_failed/heartbeat do nothing."
)

_warned_off_flow = False  # once per process; see warn_off_flow()


def find_handle(explicit: str | Handle | None = None) -> Handle | None:
    """Return the handle of this run, or ``None`` off-flow (after :func:`warn_off_flow`).

    Raises ``ValueError`` when a handle is found but malformed, naming where it came from.
    """
    if isinstance(explicit, Handle):
        return explicit
    for source, raw in _candidates(explicit):
        if raw is not None and raw.strip():
            try:
                return decode_handle(raw)
            except ValueError as exc:
                raise ValueError(f"{exc} (the handle came from {source})") from None
    warn_off_flow()
    return None


def _candidates(explicit: str | None) -> Iterator[tuple[str, str | None]]:
    # A generator, so later (costlier) sources are only looked at when earlier ones are empty.
    yield "the handle= argument", explicit
    yield f"the {ARG_NAME} command-line argument", arg_value(sys.argv)
    yield f"the {WIDGET_NAME!r} widget", widget_value()
    yield f"the {ENV_VAR} environment variable", os.environ.get(ENV_VAR)


def arg_value(argv: Sequence[str]) -> str | None:
    """The value of ``--lakehook=X`` or ``--lakehook X`` in ``argv`` (skipping ``argv[0]``)."""
    args = list(argv[1:])
    for i, arg in enumerate(args):
        if arg.startswith(ARG_NAME + "="):
            return arg[len(ARG_NAME) + 1 :]
        if arg == ARG_NAME:
            nxt = args[i + 1] if i + 1 < len(args) else ""
            return "" if nxt.startswith("--") else nxt
    return None


def find_dbutils() -> object:
    """The notebook's ``dbutils`` if this process has one; never imports anything heavy."""
    main = sys.modules.get("__main__")
    dbutils: object = getattr(main, "dbutils", None)
    if dbutils is not None:
        return dbutils
    ipython = sys.modules.get("IPython")  # only if the process already runs IPython
    if ipython is not None:
        try:
            shell = ipython.get_ipython()
            dbutils = shell.user_ns.get("dbutils") if shell is not None else None
        except Exception:  # noqa: BLE001 - an odd IPython must not break discovery
            dbutils = None
        if dbutils is not None:
            return dbutils
    if os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        # Only on a Databricks runtime: importing databricks.sdk costs seconds elsewhere.
        try:
            import importlib

            found: object = getattr(importlib.import_module("databricks.sdk.runtime"), "dbutils", None)
            return found
        except Exception:  # noqa: BLE001 - no SDK, or a runtime without dbutils
            return None
    return None


def widget_value() -> str | None:
    """The ``lakehook`` widget's value, or ``None`` without dbutils or without the widget."""
    dbutils = find_dbutils()
    if dbutils is None:
        return None
    try:
        value = dbutils.widgets.get(WIDGET_NAME)  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - py4j raises its own types for an undefined widget
        return None
    return value if isinstance(value, str) else None


def warn_off_flow() -> None:
    """Warn (``warnings`` and ``logging``) that this run is off-flow, once per process."""
    global _warned_off_flow  # noqa: PLW0603 - the once-per-process latch
    if _warned_off_flow:
        return
    _warned_off_flow = True
    import logging
    import warnings

    warnings.warn(OFF_FLOW_MESSAGE, UserWarning, stacklevel=_caller_stacklevel())
    logging.getLogger("notebook_lib").warning(OFF_FLOW_MESSAGE)


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that points the warning at the user's line, outside this package."""
    here = os.path.dirname(os.path.abspath(__file__))
    frame = sys._getframe(1)
    level = 1
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == here:
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level
