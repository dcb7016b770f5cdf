"""The store fixtures: every contract test runs on SQLite and on DynamoDB (moto)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lambda_resolver.core.store import Store

from support.aws import LockedClient, moto_table


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


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Store:
    """Each contract test, once per implementation, with identical expectations."""
    fixture: Store = request.getfixturevalue(f"{request.param}_store")
    return fixture
