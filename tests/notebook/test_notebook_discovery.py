"""Where the handle comes from: handle=, --lakehook, the widget, $LAKEHOOK; and off-flow."""

from __future__ import annotations

import json
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest

from notebook_lib import decode_handle, encode_handle, notify_done


class FakeWidgets:
    """``dbutils.widgets`` as a notebook task sees it: job parameters by name."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def get(self, name: str) -> str:
        if name not in self.values:
            raise RuntimeError(f"InputWidgetNotDefined: No input widget named {name} is defined")
        return self.values[name]


class FakeDbutils:
    def __init__(self, **widgets: str) -> None:
        self.widgets = FakeWidgets(widgets)


@pytest.fixture
def handles(server: Any, token: str) -> dict[str, str]:
    """One handle per source, each for its own promise, so the request path shows which won."""
    return {
        src: encode_handle(server.url, f"p-{src}", token) for src in ("explicit", "argv", "widget", "env")
    }


def _set_sources(
    monkeypatch: pytest.MonkeyPatch, *, argv: str | None, widget: str | None, env: str | None
) -> None:
    if argv is not None:
        monkeypatch.setattr(sys, "argv", ["task.py", "--run_date=2026-11-23", f"--lakehook={argv}"])
    if widget is not None:
        monkeypatch.setattr(sys.modules["__main__"], "dbutils", FakeDbutils(lakehook=widget), raising=False)
    if env is not None:
        monkeypatch.setenv("LAKEHOOK", env)


@pytest.mark.parametrize(
    ("present", "winner"),
    [
        (("explicit", "argv", "widget", "env"), "explicit"),
        (("argv", "widget", "env"), "argv"),
        (("widget", "env"), "widget"),
        (("env",), "env"),
        (("argv",), "argv"),
        (("widget",), "widget"),
    ],
)
def test_the_first_source_with_a_handle_wins_in_the_order_explicit_argv_widget_env(
    server: Any,
    handles: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    present: tuple[str, ...],
    winner: str,
) -> None:
    _set_sources(
        monkeypatch,
        argv=handles["argv"] if "argv" in present else None,
        widget=handles["widget"] if "widget" in present else None,
        env=handles["env"] if "env" in present else None,
    )
    notify_done(1, handle=handles["explicit"] if "explicit" in present else None)
    assert [r.path for r in server.requests] == [f"/v1/promises/p-{winner}/resolve"]


def test_the_handle_is_read_from_a_lakehook_argument_followed_by_its_value(
    server: Any, handles: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["entry", "--lakehook", handles["argv"], "--other", "x"])
    notify_done(1)
    assert server.requests[0].path == "/v1/promises/p-argv/resolve"


def test_empty_sources_fall_through_to_the_next_one(
    server: Any, handles: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _set_sources(monkeypatch, argv="", widget="", env=handles["env"])
    notify_done(1, handle="")
    assert server.requests[0].path == "/v1/promises/p-env/resolve"


def test_an_undefined_widget_falls_through_to_the_environment(
    server: Any, handles: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.modules["__main__"], "dbutils", FakeDbutils(), raising=False)
    monkeypatch.setenv("LAKEHOOK", handles["env"])
    notify_done(1)
    assert server.requests[0].path == "/v1/promises/p-env/resolve"


def test_the_widget_is_read_through_dbutils_in_the_ipython_user_namespace(
    server: Any, handles: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shell = types.SimpleNamespace(user_ns={"dbutils": FakeDbutils(lakehook=handles["widget"])})
    fake_ipython = types.ModuleType("IPython")
    fake_ipython.get_ipython = lambda: shell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", fake_ipython)
    notify_done(1)
    assert server.requests[0].path == "/v1/promises/p-widget/resolve"


def test_a_decoded_handle_object_can_be_passed_explicitly(server: Any, handles: dict[str, str]) -> None:
    notify_done(1, handle=decode_handle(handles["explicit"]))
    assert server.requests[0].path == "/v1/promises/p-explicit/resolve"


def test_a_malformed_handle_raises_value_error_naming_its_source(
    server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["task.py", "--lakehook=lh1.%%%"])
    with pytest.raises(
        ValueError, match=r"not base64url.*\(the handle came from the --lakehook command-line"
    ):
        notify_done(1)
    assert server.requests == []


OFF_FLOW_SCRIPT = """
import json, logging, sys, warnings
logging.basicConfig(stream=sys.stdout, level=logging.WARNING, format="LOG %(name)s %(message)s")
from notebook_lib import heartbeat, notify_done, notify_failed, step
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    results = [notify_done({"rows": 1}), notify_done(2), notify_failed("boom"), heartbeat()]
    with step() as s:
        s.value = 3
print(json.dumps({
    "results": results,
    "warnings": [str(w.message) for w in caught],
    "categories": [w.category.__name__ for w in caught],
    "imported": sorted(m for m in ("requests", "databricks", "databricks.sdk.runtime") if m in sys.modules),
}))
"""


def _fake_sdk(tmp_path: Path, handle: str) -> Path:
    """A stand-in ``databricks.sdk.runtime`` whose dbutils holds ``handle`` in its widget."""
    pkg = tmp_path / "fake_sdk" / "databricks" / "sdk"
    pkg.mkdir(parents=True)
    (pkg.parent / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "runtime.py").write_text(
        textwrap.dedent(f"""
        class _Widgets:
            def get(self, name):
                return {{"lakehook": {handle!r}}}[name]
        class _DbUtils:
            widgets = _Widgets()
        dbutils = _DbUtils()
        """)
    )
    return tmp_path / "fake_sdk"


def test_off_flow_every_call_does_nothing_and_warns_and_logs_once_per_process(
    run_python: Any, tmp_path: Path, handles: dict[str, str]
) -> None:
    sdk = _fake_sdk(tmp_path, handles["widget"])  # on the path, but not on a Databricks runtime
    *logs, last = run_python(OFF_FLOW_SCRIPT, path=[str(sdk)]).splitlines()
    report = json.loads(last)
    assert report["results"] == [None, None, None, None]
    assert len(report["warnings"]) == 1
    assert report["categories"] == ["UserWarning"]
    assert "no callback handle" in report["warnings"][0]
    assert [line for line in logs if line.startswith("LOG notebook_lib")] == [
        f"LOG notebook_lib {report['warnings'][0]}"
    ]
    assert report["imported"] == []  # neither requests nor databricks.sdk was imported


def test_on_a_databricks_runtime_the_widget_is_read_through_databricks_sdk_runtime(
    run_python: Any, tmp_path: Path, server: Any, handles: dict[str, str]
) -> None:
    sdk = _fake_sdk(tmp_path, handles["widget"])
    run_python(
        "from notebook_lib import notify_done\nnotify_done({'rows': 7})",
        env={"DATABRICKS_RUNTIME_VERSION": "15.4"},
        path=[str(sdk)],
    )
    assert [(r.path, r.body) for r in server.requests] == [
        ("/v1/promises/p-widget/resolve", {"value": {"rows": 7}})
    ]


NOTEBOOK = """# Databricks notebook source
dbutils.widgets.text("lakehook", "")

# COMMAND ----------

from notebook_lib import step

with step() as s:
    rows = 41 + 1
    s.value = {"rows": rows}
"""


@pytest.mark.parametrize("in_flow", [False, True])
def test_a_source_format_notebook_runs_by_hand_and_in_a_flow(
    run_python: Any, tmp_path: Path, server: Any, handles: dict[str, str], in_flow: bool
) -> None:
    notebook = tmp_path / "extract.py"
    notebook.write_text(NOTEBOOK)
    widget = handles["widget"] if in_flow else ""
    runner = (
        "import runpy, warnings\nwarnings.simplefilter('ignore')\n"
        "class W:\n"
        "    def text(self, name, default): pass\n"
        f"    def get(self, name): return {widget!r}\n"
        "class D:\n    widgets = W()\n"
        f"runpy.run_path({str(notebook)!r}, init_globals={{'dbutils': D()}}, run_name='__main__')\n"
    )
    run_python(runner)
    expected = [("/v1/promises/p-widget/resolve", {"value": {"rows": 42}})] if in_flow else []
    assert [(r.path, r.body) for r in server.requests] == expected
