"""DynamoDB on moto for tests: one table, in process, and a client that takes one call at a time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class LockedClient:
    """A boto3 client whose calls run one at a time. moto is not atomic under parallel requests
    (lost ADDs, conditional writes that both succeed), so races are proven behind this lock on
    moto, and without any lock on SQLite."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)

        return call


@contextmanager
def moto_table(monkeypatch: pytest.MonkeyPatch, table: str) -> Iterator[Any]:
    """Inside moto, a lakehook table named ``table``; yields the raw dynamodb client."""
    import boto3
    from moto import mock_aws

    from lambda_resolver.stores.dynamodb import create_table

    for k, v in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, table)
        yield client
