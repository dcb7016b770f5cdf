"""The ``dbutils`` a notebook gets when lakehook runs it locally, and ``display``/``displayHTML``.

Behaves like Databricks' where a job run depends on it: ``widgets`` (job parameters win over
``base_parameters`` and ``widgets.text`` defaults), ``secrets`` (from ``LAKEHOOK_SECRET_<SCOPE>_<KEY>``
environment variables or a JSON secrets file ``{scope: {key: value}}``), ``notebook.exit`` (ends
the notebook; the value is the run's output), ``jobs.taskValues`` (shared by the tasks of one
job run through a file) and a small ``fs`` (see :mod:`lambda_resolver.local.dbutils_fs`).
Runs in the child process: standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re

from lambda_resolver.local.dbutils_fs import LocalFs

TYPE_CHECKING = False  # typing costs milliseconds at every task start: annotations only
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Any

MAX_TASK_VALUE_BYTES = 48 * 1024  # Databricks: the JSON of one task value is at most 48 KiB
SECRET_ENV_PREFIX = "LAKEHOOK_SECRET_"  # noqa: S105 - a variable name prefix, not a secret
_List = list  # `Secrets.list` shadows the builtin inside that class
_MISSING: Any = object()


class NotebookExit(SystemExit):
    """Raised by ``dbutils.notebook.exit``: a SystemExit with code 0, so ``except Exception``
    does not swallow it and notebook_lib's ``step()`` counts it as success."""

    def __init__(self, value: str | None) -> None:
        super().__init__(0)
        self.value = value


class InputWidgetNotDefined(KeyError):
    """``dbutils.widgets.get`` of a widget that is neither defined nor passed."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class SecretNotFoundError(KeyError):
    """``dbutils.secrets.get`` of a secret in neither the environment nor the secrets file."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Widgets:
    """``dbutils.widgets``: passed values (job parameters over base_parameters) win over defaults."""

    def __init__(self, passed: Mapping[str, str]) -> None:
        self._passed = dict(passed)
        self._defaults: dict[str, str] = {}

    def text(self, name: str, defaultValue: str = "", label: str | None = None) -> None:
        self._defaults[name] = str(defaultValue)

    def dropdown(self, name: str, defaultValue: str, choices: list[str], label: str | None = None) -> None:
        if str(defaultValue) not in [str(c) for c in choices]:
            raise ValueError(f"Default value {defaultValue!r} of widget {name!r} is not one of its choices")
        self._defaults[name] = str(defaultValue)

    def combobox(self, name: str, defaultValue: str, choices: list[str], label: str | None = None) -> None:
        self._defaults[name] = str(defaultValue)

    def multiselect(self, name: str, defaultValue: str, choices: list[str], label: str | None = None) -> None:
        self.dropdown(name, defaultValue, choices, label)

    def get(self, name: str) -> str:
        if name in self._passed:
            return self._passed[name]
        if name in self._defaults:
            return self._defaults[name]
        raise InputWidgetNotDefined(f"InputWidgetNotDefined: No input widget named {name} is defined")

    def getArgument(self, name: str, optional: str | None = None) -> str | None:
        """Deprecated on Databricks; kept because old notebooks use it."""
        try:
            return self.get(name)
        except InputWidgetNotDefined:
            return optional

    def getAll(self) -> dict[str, str]:
        return {**self._defaults, **self._passed}

    def remove(self, name: str) -> None:
        self._defaults.pop(name, None)

    def removeAll(self) -> None:
        self._defaults.clear()

    @contextlib.contextmanager
    def overridden(self, values: Mapping[str, str]) -> Iterator[None]:
        """Pass ``values`` for the duration (``%run ./other $x=1``), then restore."""
        saved = dict(self._passed)
        self._passed.update(values)
        try:
            yield
        finally:
            self._passed = saved


class SecretMetadata:
    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def __repr__(self) -> str:
        return f"SecretMetadata(key={self.key!r})"


class SecretScope:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"SecretScope(name={self.name!r})"


def secret_env_var(scope: str, key: str) -> str:
    """``LAKEHOOK_SECRET_<SCOPE>_<KEY>``: upper-cased, every non-alphanumeric character as ``_``."""
    return SECRET_ENV_PREFIX + _env_word(scope) + "_" + _env_word(key)


def _env_word(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", s).upper()


class Secrets:
    """``dbutils.secrets``: the environment first, then the JSON secrets file."""

    def __init__(self, environ: Mapping[str, str], file: str | None) -> None:
        self._environ = environ
        self._file = file
        self._loaded: dict[str, dict[str, str]] | None = None

    def _scopes(self) -> dict[str, dict[str, str]]:
        if self._loaded is None:
            self._loaded = {}
            if self._file and os.path.exists(self._file):
                with open(self._file, encoding="utf-8") as f:
                    doc = json.load(f)
                if not isinstance(doc, dict):
                    raise ValueError(f"the secrets file {self._file} must hold {{scope: {{key: value}}}}")
                for scope, keys in doc.items():
                    if isinstance(keys, dict):
                        self._loaded[str(scope)] = {str(k): str(v) for k, v in keys.items()}
        return self._loaded

    def get(self, scope: str, key: str) -> str:
        var = secret_env_var(scope, key)
        if var in self._environ:
            return self._environ[var]
        found = self._scopes().get(scope, {}).get(key)
        if found is not None:
            return found
        where = f"the secrets file {self._file}" if self._file else "a secrets file (none is configured)"
        raise SecretNotFoundError(
            f"Secret does not exist with scope: {scope} and key: {key}. Locally, lakehook reads secrets "
            f"from the environment variable {var} or from {where} holding "
            f'{{"{scope}": {{"{key}": "..."}}}}'
        )

    def getBytes(self, scope: str, key: str) -> bytes:
        return self.get(scope, key).encode("utf-8")

    def list(self, scope: str) -> list[SecretMetadata]:
        """Keys of ``scope`` in the secrets file, and environment keys (upper-cased, as named there)."""
        keys = set(self._scopes().get(scope, {}))
        prefix = SECRET_ENV_PREFIX + _env_word(scope) + "_"
        keys.update(v[len(prefix) :] for v in self._environ if v.startswith(prefix))
        return [SecretMetadata(k) for k in sorted(keys)]

    def listScopes(self) -> _List[SecretScope]:
        """Scopes of the secrets file (environment secrets cannot tell scope from key)."""
        return [SecretScope(s) for s in sorted(self._scopes())]


class TaskValues:
    """``dbutils.jobs.taskValues``: ``{task_key: {key: value}}`` in one JSON file per job run."""

    def __init__(self, path: str, task_key: str, task_keys: list[str]) -> None:
        self._path, self._task_key, self._task_keys = path, task_key, task_keys

    def set(self, key: str, value: Any) -> None:
        text = json.dumps(value)
        if len(text.encode()) > MAX_TASK_VALUE_BYTES:
            raise ValueError(f"task value {key!r} is larger than 48 KiB as JSON")
        with _locked(self._path + ".lock"):
            values = read_task_values(self._path)
            values.setdefault(self._task_key, {})[key] = json.loads(text)
            tmp = f"{self._path}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(values, f)
            os.replace(tmp, self._path)

    def get(self, taskKey: str, key: str, default: Any = _MISSING, debugValue: Any = _MISSING) -> Any:
        """A value an earlier task of this run set. ``debugValue`` is for runs outside a job;
        a local run is always a job run, so it is ignored (as on Databricks)."""
        if taskKey not in self._task_keys:
            raise ValueError(
                f"Task {taskKey!r} is not a task of this job (tasks: {', '.join(self._task_keys)})"
            )
        values = read_task_values(self._path).get(taskKey, {})
        if key in values:
            return values[key]
        if default is not _MISSING:
            return default
        raise ValueError(
            f"No task value with key {key!r} was set by task {taskKey!r}, and no default was given"
        )


def read_task_values(path: str) -> dict[str, dict[str, Any]]:
    """The task values of one job run (``{}`` before any task set one)."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        return {}
    return doc if isinstance(doc, dict) else {}


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    """An exclusive lock between the processes of one run (parallel tasks set values too)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: tasks of one run rarely set values at once
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class NotebookUtils:
    def exit(self, value: Any) -> None:
        """End the notebook successfully; ``value`` (a string on Databricks) is the run's output."""
        raise NotebookExit(None if value is None else str(value))

    def run(self, path: str, timeout_seconds: int = 0, arguments: Mapping[str, str] | None = None) -> str:
        raise NotImplementedError(
            "dbutils.notebook.run is not supported locally: make the other notebook a task of the job "
            "(depends_on), or include it with %run"
        )


class JobsUtils:
    def __init__(self, task_values: TaskValues) -> None:
        self.taskValues = task_values


class LibraryUtils:
    def restartPython(self) -> None:
        print("lakehook: dbutils.library.restartPython() does nothing locally")


class DBUtils:
    """The ``dbutils`` global of a locally run notebook."""

    def __init__(
        self,
        *,
        widgets: Mapping[str, str],
        environ: Mapping[str, str],
        secrets_file: str | None,
        task_values_file: str,
        task_key: str,
        task_keys: list[str],
        state_dir: str,
    ) -> None:
        self.widgets = Widgets(widgets)
        self.secrets = Secrets(environ, secrets_file)
        self.notebook = NotebookUtils()
        self.jobs = JobsUtils(TaskValues(task_values_file, task_key, task_keys))
        self.fs = LocalFs(state_dir)
        self.library = LibraryUtils()

    def help(self) -> None:
        print("dbutils (lakehook local): widgets, secrets, notebook.exit, jobs.taskValues, fs, library")

    def __repr__(self) -> str:
        return "<dbutils: lakehook local stand-in>"


def display(obj: Any = None, *args: Any, **kwargs: Any) -> None:
    """Print ``obj`` the way a log can show it: Spark DataFrames with ``show``, pandas as text."""
    show = getattr(obj, "show", None)
    if callable(show) and type(obj).__module__.startswith("pyspark"):
        show(20, truncate=False)
    elif hasattr(obj, "to_string"):
        print(obj.to_string(max_rows=50))
    else:
        print(repr(obj))


def displayHTML(html: str) -> None:
    text = str(html)
    print(f"[displayHTML, {len(text)} characters] {text[:2000]}")
