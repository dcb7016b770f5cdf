"""Bundle jobs run as local processes: real workspace, real HTTP, real child processes."""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import requests

from notebook_lib import encode_handle

if TYPE_CHECKING:  # fixtures' types, from this folder's conftest
    from conftest import Jobs, Resolver


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


SLEEPER_PARAMS = {"pid_file": "", "ignore_sigterm": "no"}


def _wait_for_file(path: Path, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.02)
    raise TimeoutError(f"{path} never appeared")


def test_a_notebook_reads_widgets_and_its_exit_value_is_the_run_output(jobs: Jobs) -> None:
    task = jobs.notebook("widgets_exit.py", base_parameters={"greeting": "hi", "name": "from base"})
    done = jobs.run([task], {"name": "declared default"}, name="Ada")
    assert done.run.result == "SUCCESS"
    value = json.loads(done.output["notebook_output"]["result"])
    # job parameters win over base_parameters, base_parameters over widgets.text defaults
    assert value == {"greeting": "hi", "name": "Ada", "unused": "the default"}
    log = jobs.executor.log_path(done.run.run_id, "main").read_text()
    assert f"cwd is {Path(task['notebook_task']['notebook_path']).parent}" in log


def test_a_notebook_that_raises_fails_with_the_exception_and_the_log_tail(jobs: Jobs) -> None:
    done = jobs.run([jobs.notebook("raises.py")])
    assert done.run.result == "FAILED"
    state = done.doc["state"]
    assert state["state_message"].startswith("ZeroDivisionError: division by zero (log: ")
    assert state["state_message"].endswith(f"{jobs.executor.log_path(done.run.run_id, 'main')})")
    out = done.output
    assert out["error"] == "ZeroDivisionError: division by zero"
    assert 'raises.py", line 8, in ratio' in out["error_trace"]
    assert "task_runner" not in out["error_trace"]
    assert "about to divide" in out["logs"] and out["logs"].endswith("ZeroDivisionError: division by zero")


def test_a_sh_magic_fails_the_run_before_any_cell_runs(jobs: Jobs) -> None:
    done = jobs.run([jobs.notebook("magic_sh.py")])
    assert done.run.result == "FAILED"
    assert "cell 2 of magic_sh.py uses %sh, which lakehook does not run locally" in done.output["error"]
    assert "cell 1 ran" not in done.output["logs"]


def test_notify_done_reaches_the_resolver_through_the_lakehook_widget(jobs: Jobs, resolver: Resolver) -> None:
    handle = encode_handle(resolver.url, "prom-1", "secret-token")
    done = jobs.run([jobs.notebook("notify.py")], {"rows": "0"}, lakehook=handle, rows="42")
    assert done.run.result == "SUCCESS", done.output
    assert done.output["notebook_output"]["result"] == "notified"
    [(path, auth, body)] = resolver.calls
    assert path == "/v1/promises/prom-1/resolve"
    assert auth == "Bearer secret-token"
    assert body == {"value": {"rows": 42, "table": "main.raw.events"}}


def test_a_python_file_gets_its_parameters_as_argv_with_references_substituted(
    jobs: Jobs, resolver: Resolver
) -> None:
    handle = encode_handle(resolver.url, "prom-2", "tok")
    params = [
        "--lakehook={{job.parameters.lakehook}}",
        "--date={{job.parameters.run_date}}",
        "run-{{job.run_id}}",
    ]
    done = jobs.run(
        [jobs.script("script_args.py", parameters=params)],
        {"run_date": ""},
        lakehook=handle,
        run_date="2026-11-23",
    )
    assert done.run.result == "SUCCESS", done.output
    argv = [f"--lakehook={handle}", "--date=2026-11-23", f"run-{done.run.run_id}"]
    assert resolver.calls[0][2] == {"value": {"argv": argv}}
    assert f"argv: {json.dumps(argv)}" in done.output["logs"]  # script output, as Databricks gives it
    assert "notebook_output" not in done.output


def test_a_wheel_entry_point_gets_named_parameters_and_the_job_parameters(jobs: Jobs) -> None:
    body = {
        "package_name": "wheelpkg",
        "entry_point": "main",
        "named_parameters": {"table": "t1", "lakehook": "x"},
    }
    done = jobs.run([{"task_key": "main", "python_wheel_task": body}], lakehook="lh-handle")
    assert done.run.result == "SUCCESS", done.output
    assert 'wheel argv: ["--table=t1", "--lakehook=lh-handle"]' in done.output["logs"]


def test_tasks_run_in_dependency_order_and_pass_task_values(jobs: Jobs) -> None:
    consume = jobs.notebook(
        "task_values_get.py",
        key="consume",
        depends_on=[{"task_key": "produce"}],
        base_parameters={"rows_param": "{{tasks.produce.values.rows}}"},
    )
    done = jobs.run([consume, jobs.notebook("task_values_set.py", key="produce")])
    assert done.run.result == "SUCCESS", done.outputs
    produce, consume_run = done.run.task("produce"), done.run.task("consume")
    assert produce.end_time <= consume_run.start_time
    value = json.loads(done.outputs["consume"]["notebook_output"]["result"])
    assert value == {"rows": 10, "meta": {"table": "events"}, "missing": "fallback", "rows_param": "10"}


def test_run_if_all_done_runs_after_a_failure_and_all_success_does_not(jobs: Jobs) -> None:
    tasks = [
        jobs.script("fails_fast.py", key="extract"),
        jobs.script("ok_script.py", key="cleanup", depends_on=[{"task_key": "extract"}], run_if="ALL_DONE"),
        jobs.script("ok_script.py", key="load", depends_on=[{"task_key": "extract"}]),
    ]
    done = jobs.run(tasks)
    assert done.run.result == "FAILED"
    assert done.outputs["extract"]["error"] == "RuntimeError: extract failed"
    assert done.run.task("cleanup").result == "SUCCESS"
    load = done.run.task("load")
    assert (load.result, load.start_time == load.end_time) == ("FAILED", True)
    assert load.message.startswith(
        "UPSTREAM_FAILED: upstream task(s) failed: extract (RuntimeError: extract failed"
    )
    assert not jobs.executor.log_path(done.run.run_id, "load").exists()


def test_a_task_past_its_timeout_is_stopped_and_timed_out(jobs: Jobs, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    task = jobs.notebook("sleeper.py", timeout_seconds=1)
    done = jobs.run([task], SLEEPER_PARAMS, pid_file=str(pid_file))
    assert done.run.result == "TIMEDOUT"
    assert done.doc["state"]["state_message"].startswith("Task main timed out after 1 seconds")
    assert _gone(int(pid_file.read_text()))


def test_the_job_timeout_stops_a_process_that_ignores_sigterm(
    make_jobs: Callable[..., Jobs], tmp_path: Path
) -> None:
    jobs = make_jobs(kill_grace_s=0.3)
    pid_file = tmp_path / "pid"
    done = jobs.run(
        [jobs.notebook("sleeper.py")],
        SLEEPER_PARAMS,
        settings={"timeout_seconds": 1},
        pid_file=str(pid_file),
        ignore_sigterm="yes",
    )
    assert done.run.result == "TIMEDOUT"
    assert "The job run timed out after 1 seconds" in done.run.message
    assert _gone(int(pid_file.read_text()))


def test_cancel_stops_the_process_and_ends_the_run_canceled(jobs: Jobs, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    run_id = jobs.start(jobs.register([jobs.notebook("sleeper.py")], SLEEPER_PARAMS), pid_file=str(pid_file))
    pid = int(_wait_for_file(pid_file))
    resp = requests.post(f"{jobs.ws.url}/api/2.2/jobs/runs/cancel", json={"run_id": run_id}, timeout=10)
    assert resp.status_code == 200
    done = jobs.finish(run_id)
    assert done.run.result == "CANCELED"
    assert _gone(pid)


def test_a_process_killed_by_a_signal_fails_saying_so(jobs: Jobs) -> None:
    done = jobs.run([jobs.notebook("killed.py")])
    assert done.run.result == "FAILED"
    assert done.output["error"] == "The task process killed by signal SIGKILL (9) without reporting a result"
    assert "about to be killed" in done.output["logs"]


def test_secrets_come_from_the_environment_and_from_the_secrets_file(
    make_jobs: Callable[..., Jobs], tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"file_scope": {"password": "from-file"}}))
    jobs = make_jobs(env={"LAKEHOOK_SECRET_MY_SCOPE_API_KEY": "from-env"}, secrets_file=secrets)
    done = jobs.run([jobs.notebook("secrets_nb.py")])
    assert done.run.result == "SUCCESS", done.output
    value = json.loads(done.output["notebook_output"]["result"])
    assert value == {"env": "from-env", "file": "from-file", "scopes": ["file_scope"]}


def test_touching_spark_without_pyspark_fails_with_the_how_to(jobs: Jobs) -> None:
    done = jobs.run([jobs.notebook("uses_spark.py")])
    assert done.run.result == "FAILED"
    assert done.output["error"] == (
        "SparkUnavailableError: spark is not available locally: pip install pyspark (and Java 17), "
        "or configure Databricks Connect; the lakehook demo does not need spark"
    )
    assert "before spark" in done.output["logs"]


def test_a_sql_cell_without_spark_fails_before_any_cell_runs(jobs: Jobs) -> None:
    done = jobs.run([jobs.notebook("sql_cell.py")])
    assert done.run.result == "FAILED"
    assert "cell 2 of sql_cell.py is %sql, which needs spark" in done.output["error"]
    assert "this cell must not run" not in done.output["logs"]


def test_run_magic_includes_a_notebook_and_pip_magic_is_reported_not_run(jobs: Jobs) -> None:
    done = jobs.run([jobs.notebook("includes.py")])
    assert done.run.result == "SUCCESS", done.output
    assert done.output["notebook_output"]["result"] == "hello from shared / included"
    log = jobs.executor.log_path(done.run.run_id, "main").read_text()
    assert "%pip is not run locally" in log
    assert "definitely-not-installed-pkg==1.0: NOT installed" in log
    assert "requests: installed (" in log


def test_task_types_that_cannot_run_locally_fail_naming_the_type(jobs: Jobs) -> None:
    tasks = [
        {"task_key": "child", "run_job_task": {"job_id": 1}},
        {"task_key": "sql", "sql_task": {"query": {"query_id": "q"}, "warehouse_id": "w"}},
    ]
    done = jobs.run(tasks)
    assert done.run.result == "FAILED"
    assert "a run_job_task inside a child job is not run locally" in done.run.task("child").message
    assert "sql_task is not run locally" in done.run.task("sql").message


def test_a_missing_notebook_fails_naming_the_path(jobs: Jobs) -> None:
    done = jobs.run([{"task_key": "main", "notebook_task": {"notebook_path": "/Workspace/Users/x/nope"}}])
    assert done.run.result == "FAILED"
    assert "'/Workspace/Users/x/nope' was not found locally" in done.doc["state"]["state_message"]


def test_the_child_sees_the_bundle_on_its_path_and_no_cluster_markers(
    make_jobs: Callable[..., Jobs],
) -> None:
    cluster_markers = {"LAKEHOOK": "lh1.from-env", "DATABRICKS_RUNTIME_VERSION": "15.4", "EXTRA": "yes"}
    jobs = make_jobs(env=cluster_markers)
    done = jobs.run([jobs.notebook("env_probe.py", base_parameters={"who": "probe"})])
    assert done.run.result == "SUCCESS", done.output
    log = jobs.executor.log_path(done.run.run_id, "main").read_text()
    probe = json.loads(log.split("probe: ", 1)[1].split("\n", 1)[0])
    notebooks = str(jobs.executor.bundle_root)
    assert (probe["LAKEHOOK"], probe["DATABRICKS_RUNTIME_VERSION"], probe["EXTRA"]) == (None, None, "yes")
    assert probe["cwd"] == notebooks and notebooks in probe["sys_path"]
    assert probe["widget"] == "probe"
    assert probe["executable"] == sys.executable


def test_tasks_in_a_cycle_or_on_unknown_tasks_fail_without_starting(jobs: Jobs) -> None:
    tasks = [
        jobs.notebook("raises.py", key="a", depends_on=[{"task_key": "b"}]),
        jobs.notebook("raises.py", key="b", depends_on=[{"task_key": "a"}]),
        jobs.notebook("raises.py", key="c", depends_on=[{"task_key": "nope"}]),
    ]
    done = jobs.run(tasks)
    assert done.run.result == "FAILED"
    assert done.run.task("c").message == "The task depends on unknown task(s): nope"
    assert (
        done.run.task("a").message == "The task's depends_on form a cycle (or wait on one); it cannot start"
    )
    assert not list(jobs.executor.run_dir(done.run.run_id).glob("*.log"))


def test_close_stops_every_running_task(jobs: Jobs, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    run_id = jobs.start(jobs.register([jobs.notebook("sleeper.py")], SLEEPER_PARAMS), pid_file=str(pid_file))
    pid = int(_wait_for_file(pid_file))
    jobs.executor.close()
    assert jobs.finish(run_id).run.result == "CANCELED"
    assert _gone(pid)


def test_max_parallel_limits_the_processes_across_tasks(make_jobs: Callable[..., Jobs]) -> None:
    jobs = make_jobs(max_parallel=1)
    done = jobs.run([jobs.script("ok_script.py", key=k, parameters=[k]) for k in ("a", "b", "c")])
    assert done.run.result == "SUCCESS"
    spans = sorted((t.start_time, t.end_time) for t in done.run.tasks)
    assert all(prev[1] <= nxt[0] for prev, nxt in itertools.pairwise(spans))


def test_runs_waiting_for_a_process_slot_wait_instead_of_failing(make_jobs: Callable[..., Jobs]) -> None:
    jobs = make_jobs(max_parallel=1)
    job = jobs.register([jobs.script("ok_script.py")])
    runs = [jobs.start(job) for _ in range(3)]
    assert [jobs.finish(r).run.result for r in runs] == ["SUCCESS"] * 3


def test_a_wheel_task_finds_the_packages_console_script_entry_point(jobs: Jobs) -> None:
    body = {"package_name": "Pygments", "entry_point": "pygmentize", "parameters": ["-V"]}
    done = jobs.run([{"task_key": "main", "python_wheel_task": body}], lakehook="not-pushed-to-positional")
    assert done.run.result == "SUCCESS", done.output
    assert "Pygments version" in done.output["logs"]
    assert "not-pushed" not in done.output["logs"]
