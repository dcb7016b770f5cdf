"""The store fixtures: every contract test runs on SQLite and on DynamoDB (moto)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambda_resolver.core.store import Store


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


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    from lambda_resolver.stores.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "lakehook.db")
    yield store
    store.close()


@pytest.fixture
def dynamodb_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    import boto3
    from moto import mock_aws

    from lambda_resolver.stores.dynamodb import DynamoStore, create_table

    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "lakehook-test")
        yield DynamoStore("lakehook-test", client=LockedClient(client))


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Store:
    """Each contract test, once per implementation, with identical expectations."""
    fixture: Store = request.getfixturevalue(f"{request.param}_store")
    return fixture
