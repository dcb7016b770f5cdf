"""The public URL's secrets must be out of reach of guessing (issue 12, finding 4): the webhook
password and the operator key are refused at configuration load unless they can be 32 random
bytes, with an error that says how to make one; the Lambda refuses to start on a weak one."""

from __future__ import annotations

import base64
import json
import secrets

import pytest

from lambda_resolver.aws.config import ConfigError, parse_basic, parse_operator_key

STRONG = [
    base64.b64encode(secrets.token_bytes(32)).decode(),
    secrets.token_hex(32),
    secrets.token_urlsafe(32),
]
WEAK = ["hook-password-123", "op-key-0123456789", "x" * 64, "abcd" * 16, "correct horse battery"]


@pytest.mark.parametrize("password", WEAK)
def test_a_weak_webhook_password_is_refused_with_how_to_make_one(password: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_basic(json.dumps({"username": "databricks", "password": password}))
    assert "openssl rand -base64 32" in str(err.value)
    assert password not in str(err.value)


@pytest.mark.parametrize("key", WEAK)
def test_a_weak_operator_key_is_refused(key: str) -> None:
    with pytest.raises(ConfigError, match="operator key"):
        parse_operator_key(key)


@pytest.mark.parametrize("secret", STRONG)
def test_32_random_bytes_in_any_usual_encoding_are_accepted(secret: str) -> None:
    assert parse_basic(json.dumps({"username": "databricks", "password": secret})) == ("databricks", secret)
    assert parse_operator_key(f"  {secret}\n") == secret


def test_an_empty_operator_key_closes_the_door_and_a_bad_user_is_refused() -> None:
    assert parse_operator_key("  ") is None
    with pytest.raises(ConfigError, match="username"):
        parse_basic(json.dumps({"username": "a:b", "password": STRONG[0]}))
