"""Ids, idempotency tokens and callback tokens."""

from __future__ import annotations

import pytest

from lambda_resolver.core.errors import InvalidId
from lambda_resolver.core.ids import TokenSigner, check_id, idempotency_token, task_promise_id

KEY = b"0123456789abcdef0123456789abcdef"


def test_a_token_verifies_only_for_its_promise_and_its_keys() -> None:
    signer = TokenSigner({"k1": KEY}, "k1")
    token = signer.token("r.a.1")
    assert signer.verify("r.a.1", token)
    assert not signer.verify("r.b.1", token)
    assert not TokenSigner({"k1": b"another key, also 32 bytes long!"}, "k1").verify("r.a.1", token)


def test_both_keys_verify_during_a_rotation_and_the_new_one_signs() -> None:
    old = TokenSigner({"k1": KEY}, "k1")
    rotating = TokenSigner({"k1": KEY, "k2": b"the new key: 32 bytes long, ok!!"}, "k2")
    assert rotating.verify("p", old.token("p"))
    assert rotating.token("p").startswith("k2.")
    assert not old.verify("p", rotating.token("p"))


@pytest.mark.parametrize("token", ["", "k1", "k1.", "nokid", "k9.abc", "k1.ünïcødé", "k1.\udcff", "." * 200])
def test_malformed_tokens_are_refused_without_raising(token: str) -> None:
    assert TokenSigner({"k1": KEY}, "k1").verify("p", token) is False


def test_the_signer_refuses_short_keys_and_never_shows_them() -> None:
    with pytest.raises(ValueError, match="too short"):
        TokenSigner({"k1": b"short"}, "k1")
    assert "0123" not in repr(TokenSigner({"k1": KEY}, "k1"))


def test_idempotency_tokens_are_stable_short_and_distinct_per_attempt() -> None:
    first, again, second = (idempotency_token(task_promise_id("r", "a", n)) for n in (1, 1, 2))
    assert first == again != second and len(first) <= 64


def test_a_long_task_key_keeps_the_promise_id_within_128_characters() -> None:
    pid = task_promise_id("r" * 64, "k" * 100, 3)
    assert len(pid) <= 128 and pid.endswith(".3") and check_id(pid) == pid


@pytest.mark.parametrize("bad", ["", "a b", "x" * 129, "a/b", "ü", None])
def test_bad_ids_say_what_an_id_may_contain(bad: object) -> None:
    with pytest.raises(InvalidId, match=r"A-Za-z0-9"):
        check_id(bad)  # type: ignore[arg-type]
