"""The ``spark`` global of a locally run notebook: started on first use, never at import.

Where it comes from, first match wins (``LAKEHOOK_SPARK=local|connect|none`` forces a choice):

1. Databricks Connect, when ``databricks.connect`` is importable and configured
   (``SPARK_REMOTE``, or ``DATABRICKS_HOST`` with ``DATABRICKS_CLUSTER_ID`` or
   ``DATABRICKS_SERVERLESS_COMPUTE_ID``): ``DatabricksSession.builder.getOrCreate()``.
2. Local PySpark, when ``pyspark`` is importable (it needs Java 17): ``local[2]`` on
   127.0.0.1, no UI, the in-memory catalog, and one warehouse directory for all tasks
   (``<state_dir>/spark-warehouse``). Each task is its own process with its own catalog, so at
   start every Parquet table found in the warehouse (``<table>/``, ``<db>.db/<table>/``) is
   registered again: ``saveAsTable`` in one task, ``spark.table`` in the next works.
   Limits: Parquet only — Delta does not work offline on local Spark (use the ``deltalake``
   package for Delta files); no Unity Catalog, so three-part names (``main.raw.t``) fail; views
   and temporary tables do not outlive their task.
3. Otherwise touching ``spark`` raises :class:`SparkUnavailableError` with the how-to.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

HOW_TO = (
    "spark is not available locally: pip install pyspark (and Java 17), or configure Databricks "
    "Connect; the lakehook demo does not need spark"
)


class SparkUnavailableError(RuntimeError):
    """Neither local PySpark nor Databricks Connect can give this notebook a ``spark``."""


def _importable(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def backend(environ: Mapping[str, str] | None = None) -> str | None:
    """``"connect"``, ``"local"`` or None: what :class:`LazySpark` would start (cheap to ask)."""
    env = os.environ if environ is None else environ
    forced = env.get("LAKEHOOK_SPARK", "").strip().lower()
    if forced in ("none", "off"):
        return None
    if forced == "connect" or (forced != "local" and _connect_configured(env)):
        return "connect" if _importable("databricks.connect") else None
    return "local" if _importable("pyspark") else None


def _connect_configured(env: Mapping[str, str]) -> bool:
    if env.get("SPARK_REMOTE"):
        return _importable("databricks.connect")
    compute = env.get("DATABRICKS_CLUSTER_ID") or env.get("DATABRICKS_SERVERLESS_COMPUTE_ID")
    return bool(env.get("DATABRICKS_HOST") and compute) and _importable("databricks.connect")


class LazySpark:
    """A stand-in for ``spark`` that starts the real session on first attribute access."""

    def __init__(self, warehouse_dir: str, app_name: str = "lakehook") -> None:
        object.__setattr__(self, "_warehouse", warehouse_dir)
        object.__setattr__(self, "_app", app_name)
        object.__setattr__(self, "_session", None)

    @property
    def started(self) -> bool:
        return object.__getattribute__(self, "_session") is not None

    def session(self) -> Any:
        """The real SparkSession (started now if needed)."""
        current = object.__getattribute__(self, "_session")
        if current is None:
            current = _start(
                object.__getattribute__(self, "_warehouse"), object.__getattribute__(self, "_app")
            )
            object.__setattr__(self, "_session", current)
        return current

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.session(), name, value)

    def __repr__(self) -> str:
        return repr(object.__getattribute__(self, "_session")) if self.started else "<spark: not started yet>"

    def stop(self) -> None:
        """Stop the session if one was started (the task runner calls it at the end)."""
        current = object.__getattribute__(self, "_session")
        if current is not None:
            object.__setattr__(self, "_session", None)
            current.stop()


def _start(warehouse: str, app: str) -> Any:
    kind = backend()
    if kind == "connect":
        from databricks.connect import DatabricksSession  # type: ignore[import-not-found, unused-ignore]

        return DatabricksSession.builder.getOrCreate()
    if kind != "local":
        raise SparkUnavailableError(HOW_TO)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.makedirs(warehouse, exist_ok=True)
    from pyspark.sql import SparkSession  # type: ignore[import-not-found, unused-ignore]

    try:
        session = (
            SparkSession.builder.master(os.environ.get("LAKEHOOK_SPARK_MASTER", "local[2]"))
            .appName(app)
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.sql.catalogImplementation", "in-memory")
            .config("spark.sql.warehouse.dir", os.path.abspath(warehouse))
            .getOrCreate()
        )
    except Exception as exc:
        raise SparkUnavailableError(
            f"local PySpark did not start ({type(exc).__name__}: {exc}); it needs Java 17 "
            "(java on PATH or JAVA_HOME)"
        ) from exc
    for statement in table_registrations(warehouse):
        session.sql(statement)
    return session


def table_registrations(warehouse: str) -> list[str]:
    """The SQL that registers the Parquet tables found in ``warehouse`` with a fresh catalog."""
    statements: list[str] = []
    if not os.path.isdir(warehouse):
        return statements
    for entry in sorted(os.scandir(warehouse), key=lambda e: e.name):
        if not entry.is_dir():
            continue
        if entry.name.endswith(".db"):
            db = entry.name[: -len(".db")]
            statements.append(f"CREATE DATABASE IF NOT EXISTS `{db}` LOCATION '{_sql_path(entry.path)}'")
            tables = sorted(os.scandir(entry.path), key=lambda e: e.name)
            statements.extend(
                _create(f"`{db}`.`{t.name}`", t.path) for t in tables if _is_parquet_table(t.path)
            )
        elif _is_parquet_table(entry.path):
            statements.append(_create(f"`{entry.name}`", entry.path))
    return statements


def _create(name: str, path: str) -> str:
    return f"CREATE TABLE IF NOT EXISTS {name} USING parquet LOCATION '{_sql_path(path)}'"


def _sql_path(path: str) -> str:
    return os.path.abspath(path).replace("\\", "\\\\").replace("'", "\\'")


def _is_parquet_table(path: str) -> bool:
    if not os.path.isdir(path) or os.path.isdir(os.path.join(path, "_delta_log")):
        return False
    return any(f.endswith(".parquet") for _root, _dirs, files in os.walk(path) for f in files)
