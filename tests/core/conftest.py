from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lambda_resolver.stores.sqlite import SqliteStore

from support.harness import Harness


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    """The engine on a real SQLite file, a fake launcher and a fake clock."""
    store = SqliteStore(tmp_path / "lakehook.db")
    yield Harness(store)
    store.close()
