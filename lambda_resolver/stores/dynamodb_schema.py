"""The DynamoDB table lakehook keeps everything in: key layout, indexes, TTL.

One table, keys ``PK``/``SK`` (both strings). The SAM template mirrors :func:`table_definition`;
the names below are the contract between them, so both import from here.

Items::

    PK                 SK                       what
    P#<promise id>     P                        a promise of its own: standalone, an earlier attempt's,
                                                or one a previous version kept apart from its task
    F#<flow>           V#<version, 8 digits>    a flow version (zlib manifest, chunk 0)
    F#<flow>           V#<version>#C<4 digits>  further chunks of a large manifest
    FLOWS              <flow>                   the flow index: ``latest`` version, slot ``holders``
    RUNFLOWS           <flow>                   a flow that has runs (history merges their pages)
    SCHEDULES          <flow>                   a flow's schedule: spec, switch, anchor, next fire time
    R#<run id>         R                        a flow run
    R#<run id>         T#<task key>             a task of that run (one Query lists a run's tasks),
                                                with its current attempt's promise (``p_*``)

Indexes (all sparse: an item is indexed only while it carries the index's keys):

- ``due``  (``due_pk`` S, ``due_at`` N), keys only: every record the reconciler must look at by a
  time — promises, tasks and runs with a ``due_at``, and active schedules (``due_at``: the next
  slot). Removing ``due_at`` takes it out.
- ``dbx``  (``dbx_run_id`` N), keys only: Databricks run id -> promise (webhooks): a task item
  (its attempt's promise) or a promise item.
- ``runs`` (``runs_pk`` S = ``F#<flow>``, ``created_sk`` S = ``<created ms, 15 digits>#<run id>``),
  keys plus ``flow``/``state``: each flow's runs newest first, one partition per flow (a page of
  one flow's history never reads another flow's runs; all flows merge one query per flow).

TTL: ``expires_at`` (epoch seconds, wall clock) is set ``ttl_days`` after a promise settles, a
task reaches a terminal state, or a run reaches a final state, and removed if a record ever
leaves that state. Each task carries its own TTL rather than following its run's: stamping every
task when the run ends would cost a write per task (or a scan). So a run active for longer than
``ttl_days`` after some of its tasks finished may lose those tasks' items — keep ``ttl_days``
above the longest run. Flow versions, the flow index and schedules never expire.
"""

from __future__ import annotations

from typing import Any

PK = "PK"
SK = "SK"
TTL_ATTR = "expires_at"

DUE_INDEX = "due"
DUE_PK = "due_pk"
DUE_AT = "due_at"

DBX_INDEX = "dbx"
DBX_RUN_ID = "dbx_run_id"

RUNS_INDEX = "runs"
RUNS_PK = "runs_pk"
CREATED_SK = "created_sk"
RUNFLOWS_PK = "RUNFLOWS"


def runs_pk(flow: str) -> str:
    """The ``runs`` index partition of a flow's runs."""
    return f"F#{flow}"


def created_sk(created_at: int, run_id: str) -> str:
    """The ``runs`` index sort key: newest first when read backwards, ties by run id."""
    return f"{created_at:015d}#{run_id}"


def table_definition(table_name: str) -> dict[str, Any]:
    """The ``CreateTable`` request for the lakehook table (on-demand billing)."""

    def attr(name: str, kind: str) -> dict[str, str]:
        return {"AttributeName": name, "AttributeType": kind}

    def index(name: str, hash_key: str, range_key: str | None, projection: dict[str, Any]) -> dict[str, Any]:
        keys = [{"AttributeName": hash_key, "KeyType": "HASH"}]
        if range_key is not None:
            keys.append({"AttributeName": range_key, "KeyType": "RANGE"})
        return {"IndexName": name, "KeySchema": keys, "Projection": projection}

    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            attr(PK, "S"),
            attr(SK, "S"),
            attr(DUE_PK, "S"),
            attr(DUE_AT, "N"),
            attr(DBX_RUN_ID, "N"),
            attr(RUNS_PK, "S"),
            attr(CREATED_SK, "S"),
        ],
        "KeySchema": [
            {"AttributeName": PK, "KeyType": "HASH"},
            {"AttributeName": SK, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            index(DUE_INDEX, DUE_PK, DUE_AT, {"ProjectionType": "KEYS_ONLY"}),
            index(DBX_INDEX, DBX_RUN_ID, None, {"ProjectionType": "KEYS_ONLY"}),
            # flow and state only: counters change on every leaf and must not rewrite the index
            index(
                RUNS_INDEX,
                RUNS_PK,
                CREATED_SK,
                {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["flow", "state"]},
            ),
        ],
    }


def create_table(client: Any, table_name: str) -> None:
    """Create the table with its indexes, wait until it is active, and turn TTL on."""
    client.create_table(**table_definition(table_name))
    client.get_waiter("table_exists").wait(TableName=table_name)
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTR},
    )
