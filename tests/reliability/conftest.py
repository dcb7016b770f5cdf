"""Backends for the crash-point tests: durable data that outlives the resolver process.

A backend hands out *new* store objects over the *same* data, as a restarted process would
build them: a new SqliteStore on the same file, or a new DynamoStore (with a new boto3 client)
on the same moto table.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support import aws as support_aws
from support.crash import DynamoBackend, SqliteBackend


@pytest.fixture
def sqlite_backend(tmp_path: Path) -> Iterator[SqliteBackend]:
    backend = SqliteBackend(tmp_path / "lakehook.db")
    yield backend
    backend.close()


@pytest.fixture
def moto_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with support_aws.moto_table(monkeypatch, "lakehook-crash"):
        yield "lakehook-crash"


@pytest.fixture
def dynamo_backend(moto_table: str) -> DynamoBackend:
    return DynamoBackend(moto_table)


@pytest.fixture
def dynamo_client_backend(moto_table: str) -> DynamoBackend:
    return DynamoBackend(moto_table, client_faults=True)


@pytest.fixture
def new_table(moto_table: str) -> Iterator[Any]:
    """Another empty table in the same moto account: ``new_table()`` returns its name."""
    import boto3

    from lambda_resolver.stores.dynamodb import create_table

    names = iter(range(1, 10_000))

    def make() -> str:
        name = f"{moto_table}-{next(names)}"
        create_table(boto3.client("dynamodb", region_name="us-east-1"), name)
        return name

    yield make
