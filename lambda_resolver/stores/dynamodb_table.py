"""A thin layer over the low-level DynamoDB client: requests, pagination, and error mapping.

It turns DynamoDB's failure codes into two exceptions the store reasons with —
:class:`ConditionFailed` (carrying the current item, thanks to
``ReturnValuesOnConditionCheckFailure=ALL_OLD``) and :class:`TransactionCanceled` (carrying
the per-action reasons) — and builds the botocore client lazily on first use.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

Item = dict[str, Any]  # a DynamoDB item in the low-level wire shape: {"attr": {"S": "..."}}
Key = dict[str, Any]


class ConditionFailed(Exception):
    """A conditional write lost. ``item`` is the current item, or None if there is none."""

    def __init__(self, item: Item | None) -> None:
        super().__init__("the conditional request failed")
        self.item = item


class TransactionCanceled(Exception):
    """A transaction did nothing. ``reasons`` holds one code per action ("None" if it passed)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(f"transaction canceled: {reasons}")
        self.reasons = reasons

    @property
    def retryable(self) -> bool:
        """Every reason is a lost race (a condition, a conflicting transaction, throttling), not
        a request DynamoDB will refuse again (a validation error, an item too large)."""
        return all(r in _RACE_REASONS for r in self.reasons)


_RACE_REASONS = frozenset(
    {
        "None",
        "ConditionalCheckFailed",
        "TransactionConflict",
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
    }
)


CONFLICT_TRIES = 8


def pause(attempt: int) -> None:
    """Back off before trying a write that met a conflicting transaction again: a transaction
    holds its items for milliseconds. Jittered, doubling from 5 ms, at most 160 ms."""
    time.sleep(random.uniform(0, 0.005 * 2 ** min(attempt, 5)))  # noqa: S311 - jitter, not secrets


class Expr:
    """The names and values of one request's expressions. Every attribute name is aliased, so
    reserved words (``state``, ``counter``, ...) and task keys are always safe in a path."""

    def __init__(self) -> None:
        self._aliases: dict[str, str] = {}
        self._values: dict[str, Any] = {}

    def n(self, name: str) -> str:
        """The alias of attribute (or map key) ``name``."""
        alias = self._aliases.get(name)
        if alias is None:
            alias = self._aliases[name] = f"#n{len(self._aliases)}"
        return alias

    def v(self, value: Mapping[str, Any]) -> str:
        """A placeholder for the attribute value ``value`` (wire shape, e.g. ``{"N": "1"}``)."""
        placeholder = f":v{len(self._values)}"
        self._values[placeholder] = dict(value)
        return placeholder

    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self._aliases:
            out["ExpressionAttributeNames"] = {a: n for n, a in self._aliases.items()}
        if self._values:
            out["ExpressionAttributeValues"] = dict(self._values)
        return out


class Table:
    """One DynamoDB table, through an injected (or lazily built) low-level client."""

    def __init__(self, name: str, client: Any | None = None) -> None:
        self.name = name
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from lambda_resolver import awsclient  # lazily: nothing talks to AWS at import time

            self._client = awsclient.client("dynamodb")
        return self._client

    def get(self, key: Key, *, consistent: bool = True) -> Item | None:
        resp = self.client.get_item(TableName=self.name, Key=key, ConsistentRead=consistent)
        item: Item | None = resp.get("Item")
        return item

    def existing(self, key: Key, item: Item | None) -> Item:
        """``item`` (the ALL_OLD of a failed ``attribute_not_exists`` write), or a consistent read
        of ``key`` if the response lacked it. The item exists: the condition said so."""
        found = item if item is not None else self.get(key)
        if found is None:
            raise RuntimeError(f"{key} failed attribute_not_exists but cannot be read")
        return found

    def put(self, item: Item, *, condition: str, expr: Expr) -> None:
        """A conditional PutItem. Raises ConditionFailed(current item)."""
        self._write(
            self.client.put_item,
            Item=item,
            ConditionExpression=condition,
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
            **expr.kwargs(),
        )

    def update(self, key: Key, update: str, *, condition: str, expr: Expr) -> Item:
        """A conditional UpdateItem. Returns the item after it; raises ConditionFailed(current)."""
        resp = self._write(
            self.client.update_item,
            Key=key,
            UpdateExpression=update,
            ConditionExpression=condition,
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
            **expr.kwargs(),
        )
        item: Item = resp["Attributes"]
        return item

    def _write(self, call: Any, **kwargs: Any) -> Any:
        """One conditional write. A write that meets a transaction in progress on its item is
        refused whole (TransactionConflictException, which botocore does not retry): it is sent
        again after a short pause, as a lost race would be, up to ``CONFLICT_TRIES`` times."""
        from botocore.exceptions import ClientError  # loaded already by any client

        for attempt in range(CONFLICT_TRIES):
            try:
                return call(TableName=self.name, **kwargs)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code == "TransactionConflictException" and attempt + 1 < CONFLICT_TRIES:
                    pause(attempt)
                    continue
                if code != "ConditionalCheckFailedException":
                    raise
                current: Item | None = exc.response.get("Item")  # type: ignore[assignment]
                raise ConditionFailed(current) from None
        raise AssertionError("unreachable")  # pragma: no cover - the last attempt returns or raises

    def transact(self, actions: Sequence[Mapping[str, Any]]) -> None:
        """TransactWriteItems; each action is ``{"Put"|"Update": {...}}`` without TableName."""
        from botocore.exceptions import ClientError

        items = [{op: {"TableName": self.name, **body} for op, body in a.items()} for a in actions]
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            raise TransactionCanceled(reasons) from None

    def query(self, **kwargs: Any) -> Iterator[Item]:
        """Every item a Query matches, page after page (``LastEvaluatedKey``)."""
        while True:
            resp = self.client.query(TableName=self.name, **kwargs)
            yield from resp.get("Items", [])
            last = resp.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def batch_get(self, keys: Sequence[Key]) -> list[Item]:
        """Consistent reads of ``keys`` (any number), in no particular order."""
        out: list[Item] = []
        for start in range(0, len(keys), 100):  # BatchGetItem takes at most 100 keys
            request: dict[str, Any] = {
                self.name: {"Keys": list(keys[start : start + 100]), "ConsistentRead": True}
            }
            while request:
                resp = self.client.batch_get_item(RequestItems=request)
                out.extend(resp.get("Responses", {}).get(self.name, []))
                request = resp.get("UnprocessedKeys") or {}
        return out
