"""The Lambda handler end to end: Function URL events in, DynamoDB (moto) and Secrets Manager
(moto) behind it, databricks-sdk calling the loopback workspace over real HTTP."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambda_resolver.aws.handler import Resolver
from lambda_resolver.compiler import compile_bundle, load_bundle
from lambda_resolver.local import LocalWorkspace, ManualExecutor
from lambda_resolver.stores.dynamodb import create_table
from notebook_lib.handle import decode_handle

from support.events import http_event

BUNDLE = Path(__file__).resolve().parent.parent / "fixtures" / "bundles" / "nightly"
PAT = "dapi-local-test-token"
KEYS = {
    "active": "k1",
    "keys": {"k1": base64.b64encode(b"k" * 32).decode()},
    "notify": "whsec_" + base64.b64encode(b"n" * 32).decode(),
}


class Ctx:
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:lakehook-resolver:live"

    def get_remaining_time_in_millis(self) -> int:
        return 25_000


HOOK_PASSWORD = "hook-pw-Vq3xN8rT2mK9pL4wZ7cB1yF6hJ0sD5gA"  # 32+ random-looking characters


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Resolver, LocalWorkspace]]:
    for k, v in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(k, v)
    with mock_aws(), LocalWorkspace(executor=ManualExecutor(), token=PAT) as ws:
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        create_table(ddb, "lakehook")
        sm = boto3.client("secretsmanager", region_name="us-east-1")
        arns = {
            name: sm.create_secret(Name=name, SecretString=value)["ARN"]
            for name, value in {
                "signing": json.dumps(KEYS),
                "databricks": json.dumps({"token": PAT}),
                "webhook": json.dumps({"username": "databricks", "password": HOOK_PASSWORD}),
            }.items()
        }
        lam = _function_with_url()
        bundle = load_bundle(BUNDLE, environ={})
        for key, job in bundle.jobs.items():
            if not job.is_flow:
                ws.register_job(None, job.name, job.spec, key=key)
        env = {
            "LAKEHOOK_TABLE": "lakehook",
            "LAKEHOOK_SIGNING_KEYS_SECRET": arns["signing"],
            "LAKEHOOK_DATABRICKS_SECRET": arns["databricks"],
            "LAKEHOOK_WEBHOOK_SECRET": arns["webhook"],
            "LAKEHOOK_OPERATOR_KEY_SECRET": "",
            "DATABRICKS_HOST": ws.url,
            "LAKEHOOK_SUCCESS_GRACE_S": "0",
            "LAKEHOOK_CHECK_INTERVAL_S": "0",
            "AWS_LAMBDA_FUNCTION_NAME": "lakehook-resolver",
        }
        resolver = Resolver(env, dynamodb=lambda: ddb, secretsmanager=lambda: sm, lambda_client=lambda: lam)
        flows = compile_bundle(BUNDLE, environ={})
        manifest = flows["nightly"].with_job_ids(ws.job_ids())
        answer = resolver({"lakehook": "publish", "manifest": manifest.to_dict()}, Ctx())
        assert answer["status"] == 201, answer
        yield resolver, ws


def _function_with_url() -> Any:
    """The function itself, with its URL, as moto knows it: a scheduled pass reads the URL there."""
    import io
    import zipfile

    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.create_role(RoleName="lakehook", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("handler.py", "def handler(e, c): return e\n")
    lam = boto3.client("lambda", region_name="us-east-1")
    lam.create_function(
        FunctionName="lakehook-resolver",
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": code.getvalue()},
    )
    lam.create_alias(FunctionName="lakehook-resolver", Name="live", FunctionVersion="$LATEST")
    lam.create_function_url_config(FunctionName="lakehook-resolver", Qualifier="live", AuthType="NONE")
    return lam


def call(
    resolver: Resolver, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    event = http_event(
        "function_url", method, path, body=None if body is None else json.dumps(body), headers=headers
    )
    reply = resolver(event, Ctx())
    return reply["statusCode"], json.loads(reply["body"])


def handle_of(ws: LocalWorkspace, job_key: str) -> Any:
    job_id = ws.job_ids()[job_key]
    (run,) = [r for r in ws.runs() if r.job_id == job_id]
    return run, decode_handle(run.job_parameters["lakehook"])


def test_a_flow_runs_through_function_url_callbacks_with_one_databricks_run_per_task(
    stack: tuple[Resolver, LocalWorkspace],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level("DEBUG")
    resolver, ws = stack
    started = resolver(
        {"lakehook": "start_run", "flow": "nightly", "run_id": "r-1", "params": {"run_date": "2026-11-23"}},
        Ctx(),
    )
    assert started["status"] == 201 and started["body"]["state"] == "RUNNING"
    tokens = []
    for key, value in (("extract_a", {"rows": 10}), ("extract_b", {"rows": 5})):
        _, handle = handle_of(ws, key)
        assert handle.url.startswith("https://") and handle.url.endswith(".on.aws")
        tokens.append(handle.token)
        status, doc = call(
            resolver,
            "POST",
            f"/v1/promises/{handle.promise_id}/resolve",
            {"value": value},
            token=handle.token,
        )
        assert status == 200 and doc["state"] == "RESOLVED"
    combine_run, handle = handle_of(ws, "combine")
    assert combine_run.job_parameters["rows_a"] == "10"
    tokens.append(handle.token)
    call(
        resolver,
        "POST",
        f"/v1/promises/{handle.promise_id}/resolve",
        {"value": {"rows": 15}},
        token=handle.token,
    )
    _, handle = handle_of(ws, "report")
    tokens.append(handle.token)
    status, _ = call(
        resolver, "POST", f"/v1/promises/{handle.promise_id}/resolve", {"value": "ok"}, token="k1.forged"
    )
    assert status == 401
    call(resolver, "POST", f"/v1/promises/{handle.promise_id}/resolve", {"value": "ok"}, token=handle.token)
    final = resolver({"lakehook": "get_run", "run_id": "r-1"}, Ctx())["body"]
    assert final["state"] == "SUCCESS"
    assert [t["state"] for t in final["tasks"]] == ["SUCCESS"] * 4
    assert all(t["databricks_run_id"] and t["run_page_url"].startswith(ws.url) for t in final["tasks"])
    assert set(ws.runs_per_token().values()) == {1} and len(ws.runs_per_token()) == 4
    records = [json.dumps(r.__dict__, default=str) for r in caplog.records]
    triggered = [r for r in caplog.records if r.getMessage() == "task_triggered"]
    assert len(triggered) == 4 and {"run_id", "promise_id", "databricks_run_id"} <= set(triggered[0].__dict__)
    printed = capsys.readouterr()
    everything = "\n".join(records) + printed.out + printed.err
    assert not any(t in everything for t in tokens)  # no log line or metric carries a token


def test_a_scheduled_event_settles_a_run_that_ended_without_a_callback(
    stack: tuple[Resolver, LocalWorkspace],
) -> None:
    resolver, ws = stack
    resolver({"lakehook": "start_run", "flow": "nightly", "run_id": "r-2", "params": {}}, Ctx())
    run_a, _ = handle_of(ws, "extract_a")
    ws.finish(run_a.run_id, "SUCCESS", output=json.dumps({"rows": 3}))
    run_b, _ = handle_of(ws, "extract_b")
    ws.finish(run_b.run_id, "FAILED", message="Cell 2: ValueError: bad input")
    answer = resolver(
        {"version": "0", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}, Ctx()
    )
    assert answer["status"] == 200 and answer["body"]["reconciled"].get("settled_from_run") == 2
    doc = resolver({"lakehook": "get_run", "run_id": "r-2"}, Ctx())["body"]
    states = {t["task_key"]: (t["state"], t["value"], t["error"]) for t in doc["tasks"]}
    assert states["extract_a"] == ("SUCCESS", {"rows": 3}, None)
    assert states["extract_b"][0] == "FAILED" and "bad input" in states["extract_b"][2]["message"]
    assert doc["state"] == "FAILED"


def test_a_databricks_webhook_settles_from_a_re_read_of_the_run(
    stack: tuple[Resolver, LocalWorkspace],
) -> None:
    resolver, ws = stack
    resolver({"lakehook": "start_run", "flow": "nightly", "run_id": "r-3", "params": {}}, Ctx())
    run_a, _ = handle_of(ws, "extract_a")
    ws.finish(run_a.run_id, "CANCELED", message="canceled in the UI")
    payload = {
        "event_type": "jobs.on_failure",
        "run": {"run_id": str(run_a.run_id)},
        "job": {"job_id": run_a.job_id, "name": "extract_a"},
    }
    basic = base64.b64encode(f"databricks:{HOOK_PASSWORD}".encode()).decode()
    event = http_event(
        "function_url",
        "POST",
        "/v1/webhooks/databricks",
        body=json.dumps(payload),
        headers={"content-type": "application/json", "authorization": f"Basic {basic}"},
    )
    reply = resolver(event, Ctx())
    assert (reply["statusCode"], json.loads(reply["body"])) == (202, {"accepted": True})
    doc = resolver({"lakehook": "get_run", "run_id": "r-3"}, Ctx())["body"]
    assert {t["task_key"]: t["state"] for t in doc["tasks"]}["extract_a"] == "CANCELED"


def test_a_rotated_signing_key_reaches_a_warm_container_within_the_cache_lifetime(
    stack: tuple[Resolver, LocalWorkspace],
) -> None:
    resolver, ws = stack
    now = [time.monotonic()]
    resolver._now = lambda: now[0]  # the container's clock, moved by hand
    resolver({"lakehook": "start_run", "flow": "nightly", "run_id": "r-4", "params": {}}, Ctx())
    _, old = handle_of(ws, "extract_a")
    assert old.token.startswith("k1.")
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    rotated = {"active": "k2", "keys": {**KEYS["keys"], "k2": base64.b64encode(b"2" * 32).decode()}}
    sm.put_secret_value(SecretId=resolver._config.signing_secret, SecretString=json.dumps(rotated))  # type: ignore[union-attr]
    now[0] += resolver.secrets.ttl_s + 1
    resolver.secrets.clear()
    status, _ = call(
        resolver, "POST", f"/v1/promises/{old.promise_id}/resolve", {"value": {"rows": 1}}, token=old.token
    )
    assert status == 200  # tokens of the old key still verify during the rotation
    _, b = handle_of(ws, "extract_b")
    call(resolver, "POST", f"/v1/promises/{b.promise_id}/resolve", {"value": {"rows": 2}}, token=b.token)
    _, new = handle_of(ws, "combine")
    assert new.token.startswith("k2.")  # new attempts are signed with the new active key


@pytest.mark.parametrize(("init_type", "preloaded"), [("snap-start", True), ("on-demand", False)])
def test_modules_are_preloaded_only_into_a_snapstart_snapshot_and_nothing_is_built(
    init_type: str, preloaded: bool
) -> None:
    import os
    import subprocess
    import sys

    code = (
        "import sys, lambda_resolver.aws.handler as h\n"
        "m = sys.modules\n"
        "print('databricks.sdk' in m, 'lambda_resolver.stores.dynamodb' in m, h._resolver)"
    )
    env = {**os.environ, "AWS_LAMBDA_INITIALIZATION_TYPE": init_type}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split() == [str(preloaded), str(preloaded), "None"]  # no resolver, client or secret yet
