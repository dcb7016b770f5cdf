"""A wide fan-out on Lambda: the invocation that finished the parent delivers
``LAKEHOOK_FANOUT_INLINE`` children and hands the next chunk to an asynchronous invoke of the
function itself (the same alias), which the fan-out door accepts — by direct invoke only, never
through the Function URL."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambda_resolver.aws.handler import Resolver
from lambda_resolver.core.models import PromiseState, TaskState
from lambda_resolver.stores.dynamodb import create_table

from support.events import http_event
from support.fakes import FakeLauncher
from support.flows import flow, job_task

FUNCTION = "lakehook-resolver"
CHILDREN = 7


class Ctx:
    invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}:live"

    def get_remaining_time_in_millis(self) -> int:
        return 25_000


@dataclass
class SelfInvokes:
    """The function's own Lambda client: records invokes (the test runs them as Lambda would)."""

    invokes: list[dict[str, Any]] = field(default_factory=list)

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.invokes.append(kwargs)
        return {"StatusCode": 202}

    def get_function_url_config(self, **kwargs: Any) -> dict[str, Any]:
        return {"FunctionUrl": "https://abcdefg.lambda-url.us-east-1.on.aws/"}


@dataclass
class Aws:
    resolver: Resolver
    lam: SelfInvokes
    launcher: FakeLauncher

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.resolver(event, Ctx())

    @property
    def engine(self) -> Any:
        return self.resolver._services.get_engine()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    for k, v in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        create_table(ddb, "lakehook")
        sm = boto3.client("secretsmanager", region_name="us-east-1")
        signing = {"active": "k1", "keys": {"k1": base64.b64encode(b"k" * 32).decode()}}
        env = {
            "LAKEHOOK_TABLE": "lakehook",
            "LAKEHOOK_SIGNING_KEYS_SECRET": sm.create_secret(Name="s", SecretString=json.dumps(signing))[
                "ARN"
            ],
            "DATABRICKS_HOST": "https://dbc-test.cloud.databricks.com",
            "AWS_LAMBDA_FUNCTION_NAME": FUNCTION,
            "LAKEHOOK_FANOUT_INLINE": "3",
        }
        lam, launcher = SelfInvokes(), FakeLauncher()
        resolver = Resolver(
            env,
            dynamodb=lambda: ddb,
            secretsmanager=lambda: sm,
            lambda_client=lambda: lam,
            launcher=lambda config: launcher,
        )
        yield Aws(resolver, lam, launcher)


def _wide_run(aws: Aws) -> str:
    assert aws.invoke({"lakehook": "list_flows"})["status"] == 200  # the container's first event
    aws.engine.publish(
        flow("wide", [job_task("root"), *(job_task(f"c{i}", ["root"]) for i in range(CHILDREN))])
    )
    run, _ = aws.engine.start_run("wide")
    return str(run.run_id)


def _settle_root(aws: Aws, run_id: str) -> None:
    root = aws.engine.get_task(run_id, "root")
    aws.engine.settle(root.promise_id, PromiseState.RESOLVED, value=1)


def test_the_next_chunk_goes_to_an_asynchronous_invoke_of_the_same_alias_and_is_accepted(aws: Aws) -> None:
    run_id = _wide_run(aws)
    _settle_root(aws, run_id)
    answers = []
    for _ in range(CHILDREN):  # Lambda runs each event it was handed, and those it hands on
        if not aws.lam.invokes:
            break
        call = aws.lam.invokes.pop(0)
        assert (call["FunctionName"], call["Qualifier"], call["InvocationType"]) == (
            FUNCTION,
            "live",
            "Event",
        )
        event = json.loads(call["Payload"])
        answers.append((event["lakehook_fanout"]["offset"], aws.invoke(event)))
    assert answers == [
        (3, {"status": 200, "body": {"fanout": "delivered"}}),
        (6, {"status": 200, "body": {"fanout": "completed"}}),
    ]
    tasks = {t.key: t for t in aws.engine.list_tasks(run_id)}
    assert all(tasks[f"c{i}"].state is TaskState.RUNNING for i in range(CHILDREN)), tasks
    assert tasks["root"].propagated
    assert aws.launcher.duplicates == {} and sum(aws.launcher.started.values()) == CHILDREN + 1


def test_a_malformed_fanout_event_is_refused_saying_its_shape(aws: Aws) -> None:
    answer = aws.invoke({"lakehook_fanout": {"run_id": "r", "offset": "3"}})
    assert answer["status"] == 400
    assert "run_id: str, task_key: str, offset: int >= 1" in answer["body"]["error"]["message"]


def test_the_fanout_door_cannot_be_reached_through_the_function_url(aws: Aws) -> None:
    run_id = _wide_run(aws)
    _settle_root(aws, run_id)
    (call,) = aws.lam.invokes
    payload = call["Payload"]
    # The event as a URL request's body, and the event's key beside a URL request's envelope.
    as_body = http_event(
        "function_url", "POST", "/", body=payload, headers={"content-type": "application/json"}
    )
    beside = {**http_event("function_url", "POST", "/"), **json.loads(payload)}
    for event in (as_body, beside):
        answer = aws.invoke(event)
        assert "statusCode" in answer and answer["statusCode"] in (401, 403, 404, 405), answer
    assert aws.engine.get_task(run_id, "c3").state is TaskState.WAITING  # nothing was delivered
    assert not aws.engine.get_task(run_id, "root").propagated
