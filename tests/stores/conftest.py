"""The store fixtures: every contract test runs on SQLite, on DynamoDB (moto) and on DynamoDB Local.

moto is not atomic under parallel requests, so its client takes one call at a time
(:class:`~support.aws.LockedClient`); DynamoDB Local is Amazon's own engine and its client has no
lock at all — the fixture checks both, so a race proven there is proven on the real engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambda_resolver.core.store import Store

from support.aws import LockedClient, moto_table
from support.dynamodb_local import server_header

STORES = ["sqlite", "dynamodb", "dynamodb_local"]


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    from lambda_resolver.stores.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "lakehook.db")
    yield store
    store.close()


@pytest.fixture
def dynamodb_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    from lambda_resolver.stores.dynamodb import DynamoStore

    with moto_table(monkeypatch, "lakehook-test") as client:
        yield DynamoStore("lakehook-test", client=LockedClient(client))


@pytest.fixture
def dynamodb_local_store(dynamodb_local_table: tuple[Any, str]) -> Store:
    """A DynamoStore on DynamoDB Local, through a plain botocore client: no lock in the path."""
    from botocore.client import BaseClient

    from lambda_resolver.stores.dynamodb import DynamoStore

    client, table = dynamodb_local_table
    assert isinstance(client, BaseClient) and not isinstance(client, LockedClient)
    assert server_header(client).startswith("Jetty"), "not DynamoDB Local"
    return DynamoStore(table, client=client)


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> Store:
    """Each contract test, once per implementation, with identical expectations."""
    fixture: Store = request.getfixturevalue(f"{request.param}_store")
    return fixture


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    """Which of STORES the test's ``store`` is."""
    kind: str = request.node.callspec.params["store"]
    return kind
