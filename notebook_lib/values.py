"""Turning a notebook's result into the JSON the resolver stores, or saying exactly why not.

Conversions (documented in docs/notebook.md):

- ``None``, ``bool``, ``str``, ``int`` and finite ``float`` pass through; subclasses of them
  (an ``IntEnum`` member, say) become the plain type. NaN and ±Infinity raise ``ValueError``:
  they are not JSON.
- ``datetime.datetime``: naive ones as ``isoformat()``, aware ones converted to UTC and written
  with a ``Z`` suffix. ``date`` and ``time`` as ``isoformat()``. A pandas ``Timestamp`` is a
  datetime, so it follows the same rule; ``NaT`` and ``pd.NA`` become ``null``.
- ``decimal.Decimal``: an ``int`` when integral, else a ``float`` (never a string).
- numpy scalars via ``.item()``, numpy arrays (anything with ``dtype`` and ``tolist``, so a pandas
  Series too) via ``.tolist()``, found by duck typing: numpy is never imported here.
- ``tuple`` → list; ``set``/``frozenset`` → sorted list (sorted by JSON text when the items do
  not compare), so the same set always sends the same bytes.
- ``dict`` keys must be ``str``.

Anything else raises ``TypeError`` naming the path (``value['rows'][3]``). Types from modules the
process never imported cannot occur, so their modules are looked up in ``sys.modules`` rather
than imported.
"""

from __future__ import annotations

import math
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_VALUE_BYTES = 262_144
"""The resolver's limit: 256 KiB of compact UTF-8 JSON (see :func:`encode_value`)."""

_HINT = "pass a table name or a volume path instead"


def to_json_value(value: object, path: str = "value") -> Any:
    """Return ``value`` converted to plain JSON types, or raise naming the offending path."""
    return _convert(value, path, set())


def encode_value(value: object) -> bytes:
    """The value as compact UTF-8 JSON, checked against :data:`MAX_VALUE_BYTES`.

    Measured exactly as sent: ``json.dumps(v, separators=(",", ":"), ensure_ascii=False)``
    encoded as UTF-8. Raises ``TypeError``/``ValueError`` for non-JSON values and
    :class:`~notebook_lib.ValueTooLargeError` above the limit, all before any request.
    """
    import json

    from notebook_lib.errors import ValueTooLargeError

    data = json.dumps(
        to_json_value(value), separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
    if len(data) > MAX_VALUE_BYTES:
        raise ValueTooLargeError(
            f"the value is {len(data):,} bytes of JSON, over the {MAX_VALUE_BYTES:,}-byte "
            f"(256 KiB) limit; write the data to a table or a Unity Catalog volume and pass "
            f"its name or path instead, e.g. notify_done({{'table': 'main.sales.daily'}}) or "
            f"notify_done({{'path': '/Volumes/main/sales/exports/daily.parquet'}})",
            size=len(data),
            limit=MAX_VALUE_BYTES,
        )
    return data


def _convert(v: object, path: str, active: set[int]) -> Any:
    # Exact-type fast path first: the common case is plain JSON.
    t = type(v)
    if v is None or t is str or t is bool or t is int:
        return v
    if t is float:
        return _check_float(v, path)  # type: ignore[arg-type]
    if isinstance(v, (dict, list, tuple, set, frozenset)):
        # Invariant: a container seen on the current path means a cycle, not a repeat.
        if id(v) in active:
            raise ValueError(f"{path}: circular reference; the value must be a tree")
        active.add(id(v))
        try:
            return _convert_container(v, path, active)
        finally:
            active.discard(id(v))
    if isinstance(v, int):  # IntEnum and other int subclasses (bool cannot be subclassed)
        return int(v)
    if isinstance(v, float):
        return _check_float(float(v), path)
    if isinstance(v, str):
        return str(v)
    return _convert_other(v, path, active)


def _check_float(f: float, path: str) -> float:
    if not math.isfinite(f):
        raise ValueError(f"{path}: {f!r} is not valid JSON (NaN and Infinity are not allowed)")
    return f


def _convert_container(v: object, path: str, active: set[int]) -> Any:
    if isinstance(v, dict):
        out: dict[str, Any] = {}
        for k, item in v.items():
            if not isinstance(k, str):
                raise TypeError(
                    f"{path}: dict keys must be str, got {type(k).__name__} {k!r}; convert the keys"
                )
            out[str(k)] = _convert(item, f"{path}[{k!r}]", active)
        return out
    if isinstance(v, (list, tuple)):
        return [_convert(item, f"{path}[{i}]", active) for i, item in enumerate(v)]
    items = [_convert(item, f"{path}[*]", active) for item in v]  # type: ignore[attr-defined]
    try:
        return sorted(items)
    except TypeError:
        import json

        return sorted(items, key=lambda x: json.dumps(x, sort_keys=True, separators=(",", ":")))


def _convert_other(v: object, path: str, active: set[int]) -> Any:
    name = type(v).__name__
    if name in ("NaTType", "NAType"):  # pandas' missing-value markers (NaT is a datetime)
        return None
    dt = sys.modules.get("datetime")
    if dt is not None:
        if isinstance(v, dt.datetime):
            if v.tzinfo is None or v.utcoffset() is None:
                return v.isoformat()
            iso = v.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat()
            return iso + "Z"
        if isinstance(v, (dt.date, dt.time)):
            return v.isoformat()
    dec = sys.modules.get("decimal")
    if dec is not None and isinstance(v, dec.Decimal):
        if not v.is_finite():
            raise ValueError(f"{path}: Decimal {v} is not valid JSON (NaN and Infinity are not allowed)")
        return int(v) if v == v.to_integral_value() else _check_float(float(v), path)
    if hasattr(v, "dtype"):  # numpy (and numpy-like) scalars and arrays, without importing numpy
        item, tolist = getattr(v, "item", None), getattr(v, "tolist", None)
        if getattr(v, "ndim", None) == 0 and callable(item):
            return _convert(item(), path, active)
        if callable(tolist):
            return _convert(tolist(), path, active)
    raise TypeError(
        f"{path}: object of type {name} is not JSON-serializable; convert it to dict, list, str, "
        f"number, bool or None, or for data {_HINT}"
    )
