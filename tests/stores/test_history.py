"""Run history: every run exactly once, newest first, a page at a time, on every store."""

from __future__ import annotations

import pytest

from lambda_resolver.core.errors import BadRequest
from lambda_resolver.core.history import cursor_of, page, position_of
from lambda_resolver.core.models import Run, RunState
from lambda_resolver.core.store import Store

NOW = 1_764_000_000_000


def _runs(store: Store, flow: str, n: int, *, at: int = NOW, same_time: bool = False) -> list[str]:
    ids = []
    for i in range(n):
        run_id = f"{flow}-{i:03d}"
        created = at if same_time else at + i * 10
        store.create_run(
            Run(run_id=run_id, flow=flow, flow_version=1, state=RunState.PENDING, created_at=created), []
        )
        ids.append(run_id)
    return ids


def _all_pages(store: Store, *, limit: int, **filters: object) -> list[list[str]]:
    pages: list[list[str]] = []
    before = None
    while True:
        found = page(store.list_runs(limit=limit + 1, before=before, **filters), limit)  # type: ignore[arg-type]
        pages.append([r.run_id for r in found.runs])
        if found.next_cursor is None:
            return pages
        before = position_of(found.next_cursor)


def test_pages_hold_every_run_once_newest_first(store: Store) -> None:
    a = _runs(store, "alpha", 7)
    b = _runs(store, "beta", 4, at=NOW + 5)
    pages = _all_pages(store, limit=3)
    listed = [run_id for p in pages for run_id in p]
    assert sorted(listed) == sorted(a + b) and len(listed) == len(set(listed))
    created = {r.run_id: (r.created_at, r.run_id) for r in (store.get_run(x) for x in listed) if r}
    assert [created[x] for x in listed] == sorted(created.values(), reverse=True)
    assert [len(p) for p in pages] == [3, 3, 3, 2]


def test_a_flow_filter_pages_through_that_flow_only(store: Store) -> None:
    a = _runs(store, "alpha", 5)
    _runs(store, "beta", 5)
    pages = _all_pages(store, limit=2, flow="alpha")
    assert pages == [a[::-1][0:2], a[::-1][2:4], a[::-1][4:5]]


def test_a_state_filter_pages_through_runs_in_that_state(store: Store) -> None:
    ids = _runs(store, "alpha", 6)
    for run_id in ids[::2]:
        store.update_run(run_id, {"state": "RUNNING"}, expect_states=(RunState.PENDING,))
    pages = _all_pages(store, limit=2, state=RunState.RUNNING)
    assert [x for p in pages for x in p] == ids[::2][::-1]


def test_runs_created_at_the_same_millisecond_are_neither_repeated_nor_skipped(store: Store) -> None:
    ids = _runs(store, "alpha", 5, same_time=True)
    pages = _all_pages(store, limit=2)
    assert [x for p in pages for x in p] == sorted(ids, reverse=True)


def test_runs_started_between_pages_do_not_shift_the_next_page(store: Store) -> None:
    ids = _runs(store, "alpha", 4)
    first = page(store.list_runs(limit=3), 2)
    _runs(store, "gamma", 3, at=NOW + 1000)  # newer than everything listed so far
    assert first.next_cursor is not None
    rest = store.list_runs(limit=10, before=position_of(first.next_cursor))
    assert [r.run_id for r in first.runs] + [r.run_id for r in rest] == ids[::-1]


@pytest.mark.parametrize("bad", ["", "not-a-cursor", "bm90aGluZw", "MTIzNDU2Nzg5MDEyMzQ1Njc4OSNy"])
def test_a_cursor_this_resolver_did_not_give_out_is_a_clear_400(bad: str) -> None:
    with pytest.raises(BadRequest, match="pass next_cursor from the previous page"):
        position_of(bad)


def test_a_cursor_round_trips_to_its_run_position() -> None:
    run = Run(
        run_id="nightly:2026-12-07T02:00:00Z",
        flow="nightly",
        flow_version=1,
        state=RunState.SUCCESS,
        created_at=NOW,
    )
    assert position_of(cursor_of(run)) == (NOW, run.run_id)
