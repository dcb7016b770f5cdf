"""Fixtures: ``lakehook dev`` as a real process, on a free port, with state in a temporary directory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.e2e import E2E_BUNDLE, Dev, free_port, start_dev


@pytest.fixture
def dev_factory(tmp_path: Path) -> Iterator[Callable[..., Dev]]:
    started: list[Dev] = []

    def make(*extra: str, bundle: Path = E2E_BUNDLE, state: str = "state", port: int | None = None) -> Dev:
        dev = start_dev(bundle, tmp_path / state, port or free_port(), *extra)
        started.append(dev)
        return dev

    yield make
    for dev in started:
        dev.stop()


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    """One ``lakehook dev`` on the e2e bundle, shared by a module's tests."""
    root = tmp_path_factory.mktemp("dev")
    d = start_dev(E2E_BUNDLE, root / "state", free_port())
    yield d
    d.stop()
