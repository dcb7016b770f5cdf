"""Suite-wide fixtures: one DynamoDB Local per session, and a fresh table of it per test.

Under ``CI=true`` a test skipped because DynamoDB Local cannot run fails instead: CI runs as
root, where ``make test`` always can put it in a private network namespace. So does a console
browser test skipped for want of playwright or Chromium: ``.ci/run`` installs both.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from support import dynamodb_local
from support.console import SKIP_PREFIX as CONSOLE_SKIP_PREFIX

SKIP_PREFIX = "DynamoDB Local"
CI_MUST_RUN = (SKIP_PREFIX, CONSOLE_SKIP_PREFIX)  # skip reasons that fail under CI=true


@pytest.fixture(scope="session")
def dynamodb_local_server() -> Iterator[dynamodb_local.DynamoDBLocal]:
    """One DynamoDB Local JVM for the whole session (or skip with the reason it cannot run)."""
    reason = dynamodb_local.unavailable()
    if reason is not None:
        assert reason.startswith(SKIP_PREFIX)
        pytest.skip(reason)
    server = dynamodb_local.DynamoDBLocal.start()
    # what only DynamoDB Local answers: Jetty (moto's server is Werkzeug, AWS says "Server")
    assert dynamodb_local.server_header(server.client()).startswith("Jetty"), "not DynamoDB Local"
    yield server
    server.stop()


@pytest.fixture
def dynamodb_local_table(dynamodb_local_server: dynamodb_local.DynamoDBLocal) -> Iterator[tuple[Any, str]]:
    """(a plain client, the name of a new lakehook table) on DynamoDB Local; dropped afterwards."""
    from lambda_resolver.stores.dynamodb import create_table

    client = dynamodb_local_server.client()
    name = f"lakehook-{uuid.uuid4().hex[:12]}"
    create_table(client, name)
    yield client, name
    client.delete_table(TableName=name)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI, "DynamoDB Local (or the console's Chromium) cannot run here" is a failure, not a skip."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") != "true" or not report.skipped or not isinstance(report.longrepr, tuple):
        return
    reason = str(report.longrepr[2])
    if reason.removeprefix("Skipped: ").startswith(CI_MUST_RUN):
        report.outcome = "failed"
        report.longrepr = f"CI=true and {reason.removeprefix('Skipped: ')}"
