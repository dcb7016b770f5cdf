"""Completion webhooks on AWS (issue 12, findings 1, 5 and 10): a settle hands the attempt to an
asynchronous invoke of the function itself; the receiver list lives in its own secret, each
receiver signed with its own key, none of it in the callback-token keys' secret."""

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
from lambda_resolver.core.ids import TokenSigner
from lambda_resolver.stores.dynamodb import create_table
from lambda_resolver.webhooks import WebhookVerificationError, verify

from support.events import http_event
from support.fakes import FakeLauncher
from support.receivers import LoopbackReceiver

TOKEN_KEY = b"k" * 32
OLD_NOTIFY = "whsec_" + base64.b64encode(b"o" * 32).decode()  # where the webhook key used to live
RECEIVER_SECRET = "whsec_" + base64.b64encode(b"r" * 32).decode()
FUNCTION = "lakehook-resolver"


class Ctx:
    invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}:live"

    def get_remaining_time_in_millis(self) -> int:
        return 25_000


@dataclass
class SelfInvokes:
    """The function's own Lambda client: records invokes (the test runs them as Lambda would)."""

    invokes: list[dict[str, Any]] = field(default_factory=list)
    fail: bool = False

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        if self.fail:
            raise ConnectionError("Lambda is unreachable")
        self.invokes.append(kwargs)
        return {"StatusCode": 202}

    def get_function_url_config(self, **kwargs: Any) -> dict[str, Any]:
        return {"FunctionUrl": "https://abcdefg.lambda-url.us-east-1.on.aws/"}


@dataclass
class Aws:
    resolver: Resolver
    lam: SelfInvokes
    receiver: LoopbackReceiver

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.resolver(event, Ctx())

    def run_self_invokes(self) -> list[dict[str, Any]]:
        answers = [self.invoke(json.loads(call["Payload"])) for call in self.lam.invokes]
        self.lam.invokes.clear()
        return answers


def _aws(monkeypatch: pytest.MonkeyPatch, receivers: list[dict[str, Any]] | None) -> Iterator[Aws]:
    for k, v in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(k, v)
    with mock_aws(), LoopbackReceiver() as receiver:
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        create_table(ddb, "lakehook")
        sm = boto3.client("secretsmanager", region_name="us-east-1")
        signing = {"active": "k1", "keys": {"k1": base64.b64encode(TOKEN_KEY).decode()}, "notify": OLD_NOTIFY}
        env = {
            "LAKEHOOK_TABLE": "lakehook",
            "LAKEHOOK_SIGNING_KEYS_SECRET": sm.create_secret(
                Name="signing", SecretString=json.dumps(signing)
            )["ARN"],
            "DATABRICKS_HOST": "https://dbc-test.cloud.databricks.com",
            "AWS_LAMBDA_FUNCTION_NAME": FUNCTION,
        }
        if receivers is not None:
            for r in receivers:
                r["url"] = r["url"].format(receiver=receiver.url)
            text = json.dumps({"receivers": receivers})
            env["LAKEHOOK_NOTIFY_RECEIVERS_SECRET"] = sm.create_secret(Name="receivers", SecretString=text)[
                "ARN"
            ]
        lam = SelfInvokes()
        resolver = Resolver(
            env,
            dynamodb=lambda: ddb,
            secretsmanager=lambda: sm,
            lambda_client=lambda: lam,
            launcher=lambda config: FakeLauncher(),
        )
        yield Aws(resolver, lam, receiver)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """A receiver in the operator's list (on loopback, so allowed as a private receiver)."""
    yield from _aws(monkeypatch, [{"url": "{receiver}/hooks/", "secret": RECEIVER_SECRET, "private": True}])


def _resolve_by_callback(aws: Aws, promise_id: str) -> int:
    stored = aws.resolver._services.get_engine().ctx.store.get_promise(promise_id)
    token = TokenSigner({"k1": TOKEN_KEY}, "k1").token(promise_id, stored.nonce)  # the notebook's handle
    event = http_event(
        "function_url",
        "POST",
        f"/v1/promises/{promise_id}/resolve",
        body=json.dumps({"value": {"rows": 3}}),
        headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
    )
    return int(aws.invoke(event)["statusCode"])


def _promise(aws: Aws, promise_id: str) -> dict[str, Any]:
    item = aws.resolver._services.get_engine().ctx.store.get_promise(promise_id)
    return {"attempts": item.notify_attempts, "notified": item.notified_at is not None, "due": item.due_at}


def test_a_callback_hands_the_notification_to_an_asynchronous_invoke_of_the_function_itself(aws: Aws) -> None:
    url = f"{aws.receiver.url}/hooks/order-1"
    created = aws.invoke({"lakehook": "create_promise", "id": "order-1", "timeout_s": 60, "notify_url": url})
    assert created["status"] == 201, created
    assert _resolve_by_callback(aws, "order-1") == 200
    assert aws.receiver.connections == 0, "the callback delivered on its own request path"
    (call,) = aws.lam.invokes
    assert (call["FunctionName"], call["Qualifier"], call["InvocationType"]) == (FUNCTION, "live", "Event")
    claimed = _promise(aws, "order-1")
    assert claimed["attempts"] == 1 and claimed["due"] is not None and not claimed["notified"]

    (answer,) = aws.run_self_invokes()
    assert answer == {"status": 200, "body": {"delivered": True}}
    (got,) = aws.receiver.received
    payload = verify(RECEIVER_SECRET, got.headers, got.body)
    assert payload["data"]["id"] == "order-1" and payload["data"]["state"] == "RESOLVED"
    with pytest.raises(WebhookVerificationError):  # the signing-keys secret signs no webhook
        verify(OLD_NOTIFY, got.headers, got.body)
    assert _promise(aws, "order-1") == {"attempts": 1, "notified": True, "due": None}


def test_a_notify_url_outside_the_receiver_list_is_refused_saying_what_to_configure(aws: Aws) -> None:
    answer = aws.invoke(
        {
            "lakehook": "create_promise",
            "id": "order-2",
            "timeout_s": 60,
            "notify_url": "https://elsewhere.example/h",
        }
    )
    assert answer["status"] == 400
    assert "NotifyReceiversSecretArn" in answer["body"]["error"]["message"], answer


def test_without_a_receivers_secret_every_notify_url_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    for aws in _aws(monkeypatch, None):
        url = f"{aws.receiver.url}/hooks/x"
        answer = aws.invoke(
            {"lakehook": "create_promise", "id": "order-3", "timeout_s": 60, "notify_url": url}
        )
        assert answer["status"] == 400 and "receiver" in answer["body"]["error"]["message"]


def test_a_receiver_at_a_private_address_without_the_operators_opt_in_is_never_connected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for aws in _aws(monkeypatch, [{"url": "{receiver}/hooks/", "secret": RECEIVER_SECRET}]):
        url = f"{aws.receiver.url}/hooks/order-4"
        assert (
            aws.invoke({"lakehook": "create_promise", "id": "order-4", "timeout_s": 60, "notify_url": url})[
                "status"
            ]
            == 201
        )
        assert aws.invoke({"lakehook": "resolve", "id": "order-4", "value": 1})["status"] == 200
        (answer,) = aws.run_self_invokes()
        assert answer["body"] == {"delivered": False}
        assert aws.receiver.connections == 0
        assert _promise(aws, "order-4")["attempts"] == 1  # counted, and due again after its back-off


def test_a_failed_self_invoke_leaves_the_settle_standing_and_the_notification_due(aws: Aws) -> None:
    aws.lam.fail = True
    url = f"{aws.receiver.url}/hooks/order-5"
    aws.invoke({"lakehook": "create_promise", "id": "order-5", "timeout_s": 60, "notify_url": url})
    assert _resolve_by_callback(aws, "order-5") == 200
    claimed = _promise(aws, "order-5")
    assert claimed["attempts"] == 1 and claimed["due"] is not None and not claimed["notified"]


def test_a_malformed_delivery_event_is_refused(aws: Aws) -> None:
    answer = aws.invoke({"lakehook_delivery": {"kind": "run", "id": 3}})
    assert answer["status"] == 400 and "delivery event" in answer["body"]["error"]["message"], answer


def test_webhooks_are_signed_with_the_receivers_own_secret_not_the_callback_token_secret(aws: Aws) -> None:
    """Finding 10: a backend that verifies its webhooks holds nothing of the signing-keys secret."""
    url = f"{aws.receiver.url}/hooks/order-6"
    aws.invoke({"lakehook": "create_promise", "id": "order-6", "timeout_s": 60, "notify_url": url})
    assert aws.invoke({"lakehook": "resolve", "id": "order-6", "value": 6})["status"] == 200
    aws.run_self_invokes()
    (got,) = aws.receiver.wait(1)
    assert verify(RECEIVER_SECRET, got.headers, got.body)["data"]["id"] == "order-6"
    with pytest.raises(WebhookVerificationError):
        verify(OLD_NOTIFY, got.headers, got.body)
