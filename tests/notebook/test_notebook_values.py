"""Values: what converts to JSON, what is refused (with the path), and the 256 KiB limit."""

from __future__ import annotations

import datetime as dt
import enum
import json
from decimal import Decimal
from typing import Any

import pytest

from notebook_lib import ValueTooLargeError
from notebook_lib.values import MAX_VALUE_BYTES, encode_value, to_json_value


class Foo:
    pass


class Color(enum.IntEnum):
    RED = 1


def test_plain_json_values_pass_through_unchanged() -> None:
    value = {"rows": 10, "ok": True, "ratio": 0.5, "name": "a", "none": None, "list": [1, [2, {}]]}
    assert to_json_value(value) == value
    assert json.loads(encode_value(value)) == value


def test_int_subclasses_become_plain_ints() -> None:
    assert to_json_value({"c": Color.RED}) == {"c": 1}
    assert type(to_json_value(Color.RED)) is int


def test_naive_datetimes_keep_their_iso_form_and_aware_ones_become_utc_with_z() -> None:
    naive = dt.datetime(2026, 11, 23, 10, 0, 0)
    cet = dt.timezone(dt.timedelta(hours=1))
    aware = dt.datetime(2026, 11, 23, 11, 0, 0, 123000, tzinfo=cet)
    assert to_json_value(naive) == "2026-11-23T10:00:00"
    assert to_json_value(aware) == "2026-11-23T10:00:00.123000Z"
    assert to_json_value(dt.date(2026, 11, 23)) == "2026-11-23"
    assert to_json_value(dt.time(7, 30)) == "07:30:00"


def test_decimals_become_int_when_integral_and_float_otherwise() -> None:
    assert to_json_value(Decimal("42")) == 42
    assert type(to_json_value(Decimal("42.000"))) is int
    assert to_json_value(Decimal("12.5")) == 12.5
    assert type(to_json_value(Decimal("12.5"))) is float


def test_tuples_become_lists_and_sets_become_sorted_lists() -> None:
    assert to_json_value((1, (2, 3))) == [1, [2, 3]]
    assert to_json_value({3, 1, 2}) == [1, 2, 3]
    assert to_json_value(frozenset({"b", "a"})) == ["a", "b"]
    mixed = to_json_value({1, "a"})
    assert sorted(map(str, mixed)) == ["1", "a"]
    assert to_json_value({1, "a"}) == mixed  # the same set always gives the same order


class FakeScalar:
    """Quacks like a numpy scalar: dtype, ndim 0 and item()."""

    dtype = "int64"
    ndim = 0

    def item(self) -> int:
        return 7


class FakeArray:
    """Quacks like a numpy array: dtype, ndim and tolist()."""

    dtype = "float64"
    ndim = 2

    def tolist(self) -> list[list[float]]:
        return [[1.0, 2.0], [3.0, 4.5]]


def test_numpy_like_scalars_and_arrays_convert_by_duck_typing() -> None:
    assert to_json_value({"n": FakeScalar(), "a": FakeArray()}) == {"n": 7, "a": [[1.0, 2.0], [3.0, 4.5]]}


def test_real_numpy_scalars_and_arrays_convert() -> None:
    np = pytest.importorskip("numpy")
    value = {"i": np.int64(3), "f": np.float32(0.5), "b": np.bool_(True), "a": np.arange(3)}
    assert to_json_value(value) == {"i": 3, "f": 0.5, "b": True, "a": [0, 1, 2]}
    assert json.loads(encode_value(np.array([[1, 2], [3, 4]]))) == [[1, 2], [3, 4]]
    with pytest.raises(ValueError, match=r"value\['x'\]\[1\]: nan is not valid JSON"):
        to_json_value({"x": np.array([1.0, np.nan])})


def test_pandas_timestamps_and_missing_markers_convert() -> None:
    pd = pytest.importorskip("pandas")
    value = {
        "naive": pd.Timestamp("2026-11-23 10:00:00"),
        "aware": pd.Timestamp("2026-11-23 11:00:00", tz="Europe/Paris"),
        "nat": pd.NaT,
        "na": pd.NA,
        "series": pd.Series([1, 2]),
    }
    assert to_json_value(value) == {
        "naive": "2026-11-23T10:00:00",
        "aware": "2026-11-23T10:00:00Z",
        "nat": None,
        "na": None,
        "series": [1, 2],
    }


@pytest.mark.parametrize(
    ("value", "path"),
    [
        (float("nan"), r"value"),
        ({"a": [1.0, float("inf")]}, r"value\['a'\]\[1\]"),
        ({"a": -float("inf")}, r"value\['a'\]"),
        ({"d": Decimal("NaN")}, r"value\['d'\]"),
    ],
)
def test_nan_and_infinity_are_refused_as_invalid_json(value: Any, path: str) -> None:
    with pytest.raises(ValueError, match=rf"^{path}: .*not valid JSON"):
        encode_value(value)


def test_an_unsupported_object_raises_type_error_naming_its_path_and_the_way_out() -> None:
    with pytest.raises(TypeError) as info:
        encode_value({"rows": [1, 2, 3, Foo()]})
    message = str(info.value)
    assert message.startswith("value['rows'][3]: object of type Foo is not JSON-serializable")
    assert "pass a table name or a volume path instead" in message


def test_bytes_are_not_json() -> None:
    with pytest.raises(TypeError, match=r"value\['blob'\]: object of type bytes"):
        to_json_value({"blob": b"\x00"})


def test_dict_keys_must_be_strings() -> None:
    with pytest.raises(TypeError, match=r"value\['outer'\]: dict keys must be str, got int 3"):
        to_json_value({"outer": {3: "x"}})


def test_a_circular_reference_is_refused() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    with pytest.raises(ValueError, match=r"value\[1\]: circular reference"):
        to_json_value(loop)


def test_a_shared_but_acyclic_object_is_fine() -> None:
    shared = {"k": 1}
    assert to_json_value([shared, shared]) == [{"k": 1}, {"k": 1}]


def test_exactly_256_kib_of_json_is_accepted_and_one_byte_more_is_too_large() -> None:
    assert len(encode_value("x" * (MAX_VALUE_BYTES - 2))) == MAX_VALUE_BYTES
    with pytest.raises(ValueTooLargeError) as info:
        encode_value("x" * (MAX_VALUE_BYTES - 1))
    assert info.value.size == MAX_VALUE_BYTES + 1
    assert "table" in str(info.value)
    assert "/Volumes/" in str(info.value)


def test_the_size_is_counted_in_utf8_bytes_of_compact_json() -> None:
    two_byte_chars = "é" * (MAX_VALUE_BYTES // 2)  # 262,144 bytes of UTF-8 plus 2 quotes
    with pytest.raises(ValueTooLargeError):
        encode_value(two_byte_chars)
    assert encode_value({"a": [1, 2]}) == b'{"a":[1,2]}'
    assert encode_value("é") == '"é"'.encode()
