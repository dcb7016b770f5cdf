"""Promise semantics through the engine, with identical expectations on SQLite and DynamoDB."""

from __future__ import annotations

import pytest

from lambda_resolver.core.errors import AlreadySettled, NotFound
from lambda_resolver.core.models import Promise, PromiseState
from lambda_resolver.core.promise_machine import Verdict
from lambda_resolver.core.store import Store

from support.harness import Harness


@pytest.fixture
def h(store: Store) -> Harness:
    return Harness(store)


def test_creating_a_promise_twice_answers_with_the_first(h: Harness) -> None:
    first, created = h.engine.standalone.create("order-1", timeout_s=60)
    again, created_again = h.engine.standalone.create("order-1", timeout_s=999)
    assert created and not created_again and again == first


def test_a_duplicate_settle_answers_with_the_stored_promise(h: Harness) -> None:
    h.engine.standalone.create("p", timeout_s=60)
    first = h.engine.settle("p", PromiseState.RESOLVED, value={"rows": 10})
    h.clock.advance(5)
    again = h.engine.settle("p", PromiseState.RESOLVED, value={"rows": 10})
    assert first.verdict is Verdict.APPLY and again.verdict is Verdict.DUPLICATE
    assert again.promise == first.promise


def test_the_same_idempotency_key_with_a_different_value_is_a_conflict(h: Harness) -> None:
    h.engine.standalone.create("p", timeout_s=60)
    h.engine.settle("p", PromiseState.RESOLVED, value=1, idempotency_key="k")
    with pytest.raises(AlreadySettled) as err:
        h.engine.settle("p", PromiseState.RESOLVED, value=2, idempotency_key="k")
    assert err.value.status == 409 and err.value.details["promise"]["value"] == 1
    again = h.engine.settle("p", PromiseState.RESOLVED, value=1, idempotency_key="k")
    assert again.verdict is Verdict.DUPLICATE and again.promise.value == 1


def test_a_conflicting_settle_is_refused_with_the_stored_promise(h: Harness) -> None:
    h.engine.standalone.create("p", timeout_s=60)
    h.engine.settle("p", PromiseState.RESOLVED, value={"rows": 10})
    with pytest.raises(AlreadySettled) as err:
        h.engine.settle("p", PromiseState.RESOLVED, value={"rows": 11})
    assert err.value.status == 409
    assert err.value.details["promise"]["value"] == {"rows": 10}
    with pytest.raises(AlreadySettled):
        h.engine.settle("p", PromiseState.REJECTED, error={"message": "no"})


def test_a_settle_after_the_timeout_conflicts_and_the_promise_is_timed_out(h: Harness) -> None:
    h.engine.standalone.create("p", timeout_s=10)
    h.clock.advance(10_000)
    with pytest.raises(AlreadySettled) as err:
        h.engine.settle("p", PromiseState.RESOLVED, value="late")
    assert "timed out" in err.value.message
    assert err.value.details["promise"]["state"] == "REJECTED_TIMEDOUT"
    assert h.engine.get_promise("p").state is PromiseState.REJECTED_TIMEDOUT


def test_a_heartbeat_extends_the_deadline_so_a_later_settle_succeeds(h: Harness) -> None:
    h.engine.standalone.create("p", timeout_s=10)
    h.clock.advance(8_000)
    extended = h.engine.heartbeat("p", extend_s=30)
    assert extended.timeout_at == h.clock.now() + 30_000
    h.clock.advance(20_000)  # past the first deadline, inside the new one
    assert h.engine.settle("p", PromiseState.RESOLVED, value=1).verdict is Verdict.APPLY


def test_a_heartbeat_after_the_timeout_is_refused(h: Harness) -> None:
    h.engine.standalone.create("p", timeout_s=10)
    h.clock.advance(10_001)
    with pytest.raises(AlreadySettled):
        h.engine.heartbeat("p")
    assert h.engine.get_promise("p").state is PromiseState.REJECTED_TIMEDOUT


def test_settling_an_unknown_promise_is_not_found(h: Harness) -> None:
    with pytest.raises(NotFound):
        h.engine.settle("ghost", PromiseState.RESOLVED)


def test_a_promise_keeps_the_nonce_it_was_created_with_and_an_old_one_has_none(h: Harness) -> None:
    created, _ = h.engine.standalone.create("with-nonce", timeout_s=60)
    assert created.nonce and h.store.get_promise("with-nonce").nonce == created.nonce
    h.engine.settle("with-nonce", PromiseState.RESOLVED, value=1)
    assert h.store.get_promise("with-nonce").nonce == created.nonce  # a settle never changes it
    again, _ = h.engine.standalone.create("with-nonce", timeout_s=60)
    assert again.nonce == created.nonce
    now = h.clock.now()
    old = Promise(id="before-nonces", state=PromiseState.PENDING, created_at=now, timeout_at=now + 60_000)
    h.store.create_promise(old)
    assert h.store.get_promise("before-nonces").nonce is None
