"""Flow versions in DynamoDB: immutable manifests, zlib-compressed, chunked past ~350 KB.

A version is one item (``F#<flow>``/``V#<version>``) holding the first chunk of the compressed
manifest and the chunk count, plus one item per further chunk (``V#<version>#C<n>``), so a
10,000-task flow fits although an item is limited to 400 KB. The index item ``FLOWS``/``<flow>``
names the ``latest`` version; publishing writes the version's items and moves ``latest`` in one
transaction, conditioned on ``latest`` still being the version it read.
"""

from __future__ import annotations

import json
import time
import zlib
from typing import Any

from lambda_resolver.core.errors import StoreConflict, ValueTooLarge
from lambda_resolver.core.manifest import FlowManifest
from lambda_resolver.stores.dynamodb_codec import n, num, s
from lambda_resolver.stores.dynamodb_schema import PK, SK
from lambda_resolver.stores.dynamodb_table import Expr, Item, Key, Table, TransactionCanceled

CHUNK_BYTES = 350_000  # per item, under the 400 KB item limit with room for keys and names
MAX_CHUNKS = 11  # a transaction carries at most 4 MB
FLOWS_PK = "FLOWS"
_PUBLISH_TRIES = 20


def flow_index_key(name: str) -> Key:
    return {PK: s(FLOWS_PK), SK: s(name)}


def _version_sk(version: int) -> str:
    return f"V#{version:08d}"


def manifest_items(m: FlowManifest) -> list[Item]:
    """The items of version ``m.version`` of ``m``: the head item first, then its chunks."""
    blob = zlib.compress(json.dumps(m.to_dict(), separators=(",", ":")).encode(), 6)
    parts = [blob[i : i + CHUNK_BYTES] for i in range(0, len(blob), CHUNK_BYTES)]
    if len(parts) > MAX_CHUNKS:
        raise ValueTooLarge(
            f"flow '{m.name}' compresses to {len(blob)} bytes; at most {CHUNK_BYTES * MAX_CHUNKS} fit"
        )
    pk, sk = s(f"F#{m.name}"), _version_sk(m.version)
    head: Item = {
        PK: pk,
        SK: s(sk),
        "manifest": {"B": parts[0]},
        "chunks": n(len(parts)),
        "created_at": n(time.time_ns() // 1_000_000),
    }
    return [head] + [
        {PK: pk, SK: s(f"{sk}#C{i:04d}"), "manifest": {"B": part}} for i, part in enumerate(parts[1:], 1)
    ]


def manifest_from_items(items: list[Item]) -> FlowManifest:
    """The inverse of :func:`manifest_items` (items in any order)."""
    ordered = sorted(items, key=lambda it: it[SK]["S"])  # "V#..." sorts before "V#...#C0001"
    if num(ordered[0], "chunks") != len(ordered):
        raise RuntimeError(f"flow version {ordered[0][PK]['S']} {ordered[0][SK]['S']} is missing chunks")
    blob = b"".join(bytes(it["manifest"]["B"]) for it in ordered)
    return FlowManifest.from_dict(json.loads(zlib.decompress(blob)))


def put_flow(table: Table, manifest: FlowManifest) -> FlowManifest:
    """Store ``manifest`` as its flow's next version; a publisher that loses the race to the same
    version number retries with the next one."""
    key = flow_index_key(manifest.name)
    for _ in range(_PUBLISH_TRIES):
        index = table.get(key)
        latest = 0 if index is None else num(index, "latest") or 0
        stored = manifest.with_version(latest + 1)
        actions: list[dict[str, Any]] = []
        for item in manifest_items(stored):
            e = Expr()
            actions.append(
                {
                    "Put": {
                        "Item": item,
                        "ConditionExpression": f"attribute_not_exists({e.n(PK)})",
                        **e.kwargs(),
                    }
                }
            )
        e = Expr()
        if index is None:  # the first version creates the index item; a racing first publisher loses
            head = {**key, "latest": n(stored.version)}
            actions.append(
                {
                    "Put": {
                        "Item": head,
                        "ConditionExpression": f"attribute_not_exists({e.n(PK)})",
                        **e.kwargs(),
                    }
                }
            )
        else:  # never creates: the condition needs the item
            update = f"SET {e.n('latest')} = {e.v(n(stored.version))}"
            condition = f"{e.n('latest')} = {e.v(n(latest))}"
            actions.append(
                {
                    "Update": {
                        "Key": key,
                        "UpdateExpression": update,
                        "ConditionExpression": condition,
                        **e.kwargs(),
                    }
                }
            )
        try:
            table.transact(actions)
            return stored
        except TransactionCanceled as canceled:
            if not canceled.retryable:
                raise
            # another publisher took this version (or a conflicting transaction ran): next one
    raise StoreConflict(f"flow '{manifest.name}': too many concurrent publishes, try again")


def get_flow(table: Table, name: str, version: int | None = None) -> FlowManifest | None:
    """Version ``version`` of flow ``name``, or its latest; None if there is none."""
    if version is None:
        index = table.get(flow_index_key(name))
        version = None if index is None else num(index, "latest")
        if version is None:
            return None
    e = Expr()
    items = list(
        table.query(
            KeyConditionExpression=f"{e.n(PK)} = {e.v(s(f'F#{name}'))} AND "
            f"begins_with({e.n(SK)}, {e.v(s(_version_sk(version)))})",
            ConsistentRead=True,
            **e.kwargs(),
        )
    )
    return manifest_from_items(items) if items else None


def list_flows(table: Table) -> list[FlowManifest]:
    """The latest version of every flow, by name."""
    e = Expr()
    index = table.query(
        KeyConditionExpression=f"{e.n(PK)} = {e.v(s(FLOWS_PK))}", ConsistentRead=True, **e.kwargs()
    )
    out = []
    for item in index:
        m = get_flow(table, item[SK]["S"], num(item, "latest"))
        if m is not None:
            out.append(m)
    return out
