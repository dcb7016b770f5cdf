"""The callback handle: the fixed ``lh1.`` format the resolver and the notebook share."""

from __future__ import annotations

import base64
import dataclasses
import json

import pytest

from notebook_lib import Handle, decode_handle, encode_handle

TOKEN = "tok.SECRET-handle-42"


def _b64(doc: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


def test_encode_then_decode_round_trips_url_promise_id_and_token() -> None:
    h = decode_handle(encode_handle("https://resolver.example/prod", "flow:r-1.extract_a-2", TOKEN))
    assert (h.url, h.promise_id, h.token) == ("https://resolver.example/prod", "flow:r-1.extract_a-2", TOKEN)


def test_the_handle_is_lh1_and_unpadded_base64url_of_compact_json() -> None:
    s = encode_handle("https://r.example", "p-1", TOKEN)
    assert s.startswith("lh1.")
    assert "=" not in s
    body = s[4:]
    doc = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    assert doc == json.dumps({"u": "https://r.example", "p": "p-1", "t": TOKEN}, separators=(",", ":"))


def test_encoding_drops_the_urls_trailing_slashes() -> None:
    assert decode_handle(encode_handle("https://r.example/", "p-1", TOKEN)).url == "https://r.example"


def test_decoding_tolerates_surrounding_whitespace_and_padding() -> None:
    s = encode_handle("https://r.example", "p-1", TOKEN)
    padded = s + "=" * (-len(s[4:]) % 4)
    assert decode_handle(f"  {padded}\n").promise_id == "p-1"


def test_the_repr_of_a_handle_hides_the_token() -> None:
    h = Handle("https://r.example", "p-1", TOKEN)
    assert TOKEN not in repr(h)
    assert TOKEN not in str(h)
    assert "p-1" in repr(h)


def test_a_handle_is_frozen_and_compares_by_value() -> None:
    h = Handle("https://r.example", "p-1", TOKEN)
    assert h == Handle("https://r.example", "p-1", TOKEN)
    assert h != Handle("https://r.example", "p-2", TOKEN)
    assert len({h, Handle("https://r.example", "p-1", TOKEN)}) == 1
    with pytest.raises(AttributeError):
        h.token = "other"  # type: ignore[misc]
    assert not dataclasses.is_dataclass(h)  # hand-written: keeps `import dataclasses` off start-up


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "does not start with 'lh1.'"),
        ("xyz." + _b64({"u": "https://r", "p": "p", "t": TOKEN}), "does not start with 'lh1.'"),
        (
            "lh2." + _b64({"u": "https://r", "p": "p", "t": TOKEN}),
            "unsupported lakehook handle version 'lh2'",
        ),
        ("lh1.@@not-base64@@", "not base64url-encoded JSON"),
        ("lh1." + base64.urlsafe_b64encode(b"{not json " + TOKEN.encode()).decode(), "not base64url"),
        ("lh1." + _b64([TOKEN]), "not a JSON object"),
        ("lh1." + _b64({"u": "https://r", "t": TOKEN}), "missing or empty field(s) p"),
        ("lh1." + _b64({"u": "https://r", "p": "p", "t": ""}), "missing or empty field(s) t"),
        ("lh1." + _b64({"u": "ftp://r", "p": "p", "t": TOKEN}), "http:// or https://"),
        ("lh1." + _b64({"u": "https://r", "p": "a/b", "t": TOKEN}), "promise id must match"),
        ("lh1." + _b64({"u": "https://r", "p": "x" * 129, "t": TOKEN}), "promise id must match"),
    ],
)
def test_a_malformed_handle_raises_value_error_saying_why_without_the_token(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match=r"lakehook handle|promise id") as info:
        decode_handle(raw)
    assert reason in str(info.value)
    assert TOKEN not in str(info.value)
    # Nothing chained that could show the decoded bytes (they hold the token).
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__


def test_a_handle_that_is_not_a_string_raises_type_error() -> None:
    with pytest.raises(TypeError, match="must be a string"):
        decode_handle(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "promise_id", "token", "reason"),
    [
        ("r.example", "p-1", TOKEN, "http:// or https://"),
        ("https://r.example", "", TOKEN, "promise id"),
        ("https://r.example", "p 1", TOKEN, "promise id"),
        ("https://r.example", "p-1", "", "token"),
    ],
)
def test_encoding_rejects_a_bad_url_promise_id_or_token(
    url: str, promise_id: str, token: str, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        encode_handle(url, promise_id, token)


def test_every_allowed_promise_id_character_round_trips() -> None:
    pid = "AZaz09._:-" * 12 + "abcdefgh"
    assert len(pid) == 128
    assert decode_handle(encode_handle("http://127.0.0.1:8765", pid, TOKEN)).promise_id == pid
