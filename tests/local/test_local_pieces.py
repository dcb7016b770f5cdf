"""The parent-side and child-side pieces on their own: references, paths, dbutils, spark tables."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from lambda_resolver.compiler import load_bundle
from lambda_resolver.local.child_process import describe_exit, log_tail
from lambda_resolver.local.dbutils_fs import LocalFs
from lambda_resolver.local.dbutils_stub import (
    InputWidgetNotDefined,
    NotebookExit,
    NotebookUtils,
    SecretNotFoundError,
    Secrets,
    TaskValues,
    Widgets,
    secret_env_var,
)
from lambda_resolver.local.job_references import BadReferenceError, RunContext, substitute
from lambda_resolver.local.spark_session import table_registrations
from lambda_resolver.local.task_plan import (
    TaskSetupError,
    child_spec,
    localize_job_settings,
    resolve_local_path,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "bundles"


def _ctx(**kw: object) -> RunContext:
    base: dict[str, object] = {
        "job_id": 7, "job_name": "load", "run_id": 900, "start_ms": 1_795_435_200_123,
        "job_parameters": {"run_date": "2026-11-23", "my-param": "x"}, "task_key": "b", "task_run_id": 902,
        "task_runs": {"a": 901, "b": 902}, "results": {"a": "SUCCESS"},
        "task_values": {"a": {"rows": 10, "name": "events"}},
    }  # fmt: skip
    base.update(kw)
    return RunContext(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{job.parameters.run_date}}", "2026-11-23"),
        ("{{job.parameters.`my-param`}}", "x"),
        ("{{ job.parameters.[my-param] }} {{job.parameters.[run_date]}}", "x 2026-11-23"),
        ("job_{{job.run_id}}/{{task.run_id}}/{{job.id}}", "job_900/902/7"),
        ("{{tasks.a.values.rows}} {{tasks.a.values.name}}", "10 events"),
        ("{{tasks.a.result_state}} {{tasks.a.run_id}}", "success 901"),
        ("{{job.start_time.iso_date}} {{ job.start_time.iso_weekday }}", "2026-11-23 1"),
        ("{{start_date}} {{parent_run_id}} {{run_id}}", "2026-11-23 900 902"),
        ("{{my.value}} {{not_a_namespace}} {{x}", "{{my.value}} {{not_a_namespace}} {{x}"),
    ],
)
def test_references_are_substituted_as_databricks_does(template: str, expected: str) -> None:
    assert substitute(template, _ctx()) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{job.naem}}", "not a dynamic value reference lakehook knows"),
        ("{{job.parameters.nope}}", "the job has no parameter 'nope'"),
        ("{{tasks.zz.values.rows}}", "the job has no task 'zz'"),
        ("{{tasks.b.values.rows}}", "task 'b' has not finished"),
        ("{{tasks.a.values.missing}}", "task 'a' set no task value 'missing'"),
    ],
)
def test_invalid_references_in_known_namespaces_are_errors(template: str, message: str) -> None:
    with pytest.raises(BadReferenceError, match=message):
        substitute(template, _ctx())


def test_job_parameters_win_over_base_parameters_and_reach_notebooks_as_widgets(tmp_path: Path) -> None:
    (tmp_path / "nb.py").write_text("# Databricks notebook source\n")
    settings = {
        "notebook_task": {"notebook_path": "nb", "base_parameters": {"run_date": "base", "b": "{{job.id}}"}}
    }
    spec = child_spec(settings, _ctx(), tmp_path)
    assert spec["kind"] == "notebook" and spec["path"] == str(tmp_path / "nb.py")
    assert spec["widgets"] == {"run_date": "2026-11-23", "b": "7", "my-param": "x"}


def test_positional_wheel_parameters_get_no_job_parameters(tmp_path: Path) -> None:
    settings = {
        "python_wheel_task": {"package_name": "p", "entry_point": "e", "parameters": ["{{job.run_id}}"]}
    }
    assert child_spec(settings, _ctx(), tmp_path)["argv"] == ["900"]


def test_bundle_paths_map_to_the_bundle_root(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "nb.py").write_text("")
    deployed = "/Workspace/Users/a@b.c/.bundle/demo/dev/files/src/nb"
    for raw in ("${workspace.file_path}/src/nb.py", deployed, "src/nb", str(tmp_path / "src" / "nb.py")):
        assert resolve_local_path(tmp_path, raw, (".py",)) == tmp_path / "src" / "nb.py"
    with pytest.raises(TaskSetupError, match="'src/other' was not found locally"):
        resolve_local_path(tmp_path, "src/other", (".py",))


def test_localized_bundle_jobs_point_at_files_relative_to_their_yaml() -> None:
    bundle = load_bundle(FIXTURES / "nightly")
    spec = localize_job_settings(bundle, bundle.job("extract_a"))
    path = spec["tasks"][0]["notebook_task"]["notebook_path"]
    assert path == str((FIXTURES / "nightly" / "src" / "extract_a.py").resolve())
    assert bundle.job("extract_a").spec["tasks"][0]["notebook_task"]["notebook_path"] == "../src/extract_a.py"


def test_widgets_answer_passed_values_then_defaults_then_the_databricks_error() -> None:
    w = Widgets({"a": "passed"})
    w.text("a", "default-a")
    w.dropdown("b", "x", ["x", "y"])
    assert (w.get("a"), w.get("b"), w.getAll()) == ("passed", "x", {"a": "passed", "b": "x"})
    with pytest.raises(InputWidgetNotDefined) as err:
        w.get("nope")
    assert str(err.value) == "InputWidgetNotDefined: No input widget named nope is defined"
    with pytest.raises(ValueError, match="not one of its choices"):
        w.dropdown("c", "z", ["x"])
    w.removeAll()
    assert w.getAll() == {"a": "passed"}


def test_a_missing_secret_names_the_variable_and_the_file(tmp_path: Path) -> None:
    assert secret_env_var("my-scope", "api.key") == "LAKEHOOK_SECRET_MY_SCOPE_API_KEY"
    secrets = Secrets({}, str(tmp_path / "secrets.json"))
    with pytest.raises(SecretNotFoundError) as err:
        secrets.get("s", "k")
    assert str(err.value).startswith(
        "Secret does not exist with scope: s and key: k. Locally, lakehook reads"
    )
    assert "LAKEHOOK_SECRET_S_K" in str(err.value) and str(tmp_path / "secrets.json") in str(err.value)


def test_notebook_exit_is_a_successful_system_exit_that_carries_a_string() -> None:
    with pytest.raises(NotebookExit) as done:
        NotebookUtils().exit({"rows": 1})
    assert (done.value.code, done.value.value) == (0, "{'rows': 1}")
    assert not isinstance(done.value, Exception)  # `except Exception` in a notebook cannot swallow it


def test_task_values_are_shared_through_one_file_and_checked(tmp_path: Path) -> None:
    path = str(tmp_path / "task_values.json")
    writers = [TaskValues(path, f"t{i}", ["t0", "t1", "t2", "t3"]) for i in range(4)]
    threads = [threading.Thread(target=w.set, args=("n", i)) for i, w in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert json.loads(Path(path).read_text()) == {f"t{i}": {"n": i} for i in range(4)}
    reader = writers[0]
    assert (reader.get("t3", "n"), reader.get("t3", "other", default=5)) == (3, 5)
    with pytest.raises(ValueError, match="not a task of this job"):
        reader.get("zz", "n")
    with pytest.raises(ValueError, match="No task value with key 'other'"):
        reader.get("t3", "other", debugValue=1)
    with pytest.raises(ValueError, match="larger than 48 KiB"):
        reader.set("big", "x" * 50_000)


def test_fs_maps_volumes_and_dbfs_under_the_state_dir(tmp_path: Path) -> None:
    fs = LocalFs(str(tmp_path))
    assert fs.local_path("/Volumes/main/raw/files/a.csv") == str(tmp_path / "volumes/main/raw/files/a.csv")
    assert fs.local_path("dbfs:/Volumes/main/raw/files/a.csv") == str(
        tmp_path / "volumes/main/raw/files/a.csv"
    )
    assert fs.local_path("dbfs:/tmp/x") == fs.local_path("/dbfs/tmp/x") == str(tmp_path / "dbfs/tmp/x")
    assert fs.put("/Volumes/main/raw/files/a.csv", "a,b\n")
    assert fs.head("/Volumes/main/raw/files/a.csv") == "a,b\n"
    with pytest.raises(FileExistsError):
        fs.put("/Volumes/main/raw/files/a.csv", "again")
    [entry] = fs.ls("/Volumes/main/raw/files")
    assert (entry.path, entry.name, entry.size) == ("/Volumes/main/raw/files/a.csv", "a.csv", 4)
    assert fs.rm("/Volumes/main/raw", recurse=True) and not fs.rm("/Volumes/main/raw")


def test_parquet_tables_in_the_warehouse_are_registered_again(tmp_path: Path) -> None:
    for table in ("events", "sales.db/orders"):
        (tmp_path / table).mkdir(parents=True)
        (tmp_path / table / "part-0.parquet").write_bytes(b"")
    (tmp_path / "deltas" / "_delta_log").mkdir(parents=True)
    (tmp_path / "deltas" / "x.parquet").write_bytes(b"")
    assert table_registrations(str(tmp_path)) == [
        f"CREATE TABLE IF NOT EXISTS `events` USING parquet LOCATION '{tmp_path / 'events'}'",
        f"CREATE DATABASE IF NOT EXISTS `sales` LOCATION '{tmp_path / 'sales.db'}'",
        "CREATE TABLE IF NOT EXISTS `sales`.`orders` USING parquet "
        f"LOCATION '{tmp_path / 'sales.db/orders'}'",
    ]


def test_exit_descriptions_and_log_tails(tmp_path: Path) -> None:
    assert describe_exit(-9) == "killed by signal SIGKILL (9)"
    assert describe_exit(3) == "exited with code 3"
    log = tmp_path / "t.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert log_tail(log, lines=3) == "line 97\nline 98\nline 99"
    assert log_tail(tmp_path / "missing.log") == ""
