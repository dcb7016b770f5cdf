"""One wiring: the store named by one setting, the same engine for every edge."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambda_resolver.core.ids import TokenSigner
from lambda_resolver.core.models import PromiseState
from lambda_resolver.wiring import StoreUrlError, build_engine, open_store

from support.aws import moto_table
from support.fakes import FakeLauncher
from support.flows import chain
from support.harness import SETTINGS


def test_a_sqlite_url_opens_that_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///state/lakehook.db")
    assert Path(store.path).resolve() == (tmp_path / "state" / "lakehook.db").resolve()  # type: ignore[attr-defined]
    assert (tmp_path / "state" / "lakehook.db").exists()
    absolute = open_store(f"sqlite:///{tmp_path}/abs.db")
    assert Path(absolute.path) == tmp_path / "abs.db"  # type: ignore[attr-defined]


def test_a_dynamodb_url_names_the_table_and_takes_the_injected_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with moto_table(monkeypatch, "lh-wired") as client:
        store = open_store("dynamodb://lh-wired?due_shards=2&ttl_days=7", {"dynamodb": client})
        assert (store.table_name, store.due_shards, store.ttl_days) == ("lh-wired", 2, 7)  # type: ignore[attr-defined]
        assert store.list_flows() == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgres://db/lakehook", "unknown kind 'postgres'; use one of dynamodb://..., sqlite://..."),
        ("lakehook.db", "unknown kind ''"),
        ("dynamodb://", "names no table"),
        ("dynamodb://t?due_shards=zero", "due_shards='zero' must be a positive whole number"),
    ],
)
def test_a_bad_store_setting_says_what_to_write(url: str, message: str) -> None:
    with pytest.raises(StoreUrlError, match=message.replace("?", r"\?").replace(".", r"\.")):
        open_store(url)


def test_an_engine_built_from_a_url_runs_a_flow(tmp_path: Path) -> None:
    launcher = FakeLauncher()
    engine = build_engine(
        store=f"sqlite:///{tmp_path}/lh.db",
        launcher=launcher,
        signer=TokenSigner({"k": b"k" * 32}, "k"),
        settings=SETTINGS,
    )
    engine.publish(chain("c", 2))
    run, created = engine.start_run("c")
    first = engine.list_tasks(run.run_id)[0]
    assert created and first.promise_id is not None
    engine.settle(first.promise_id, PromiseState.RESOLVED, value=1)
    states = {t.key: t.state.value for t in engine.list_tasks(run.run_id)}
    assert list(states.values()).count("SUCCESS") == 1 and "RUNNING" in states.values()
