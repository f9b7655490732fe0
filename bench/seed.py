"""Fill the database with history, fast: one ``INSERT … SELECT … FROM generate_series`` per table,
through psql, in one transaction (the foreign keys are deferred to the commit), then VACUUM ANALYZE
as autovacuum would have done on a database that grew over months, and a CHECKPOINT.

What is made: ``triggers`` workflows of another user, each with a published version (a copy of a
real published snapshot), and a webhook trigger with its own public id and key digest; and ``runs``
past deliveries, each accepted with a succeeded run, spread evenly over those workflows and over
the last ``days`` days (inside the retention period, so that the purge has nothing to do).

Columns are set explicitly where their value means something. Any other NOT NULL column without a
database default, such as one a later migration adds, gets a neutral value for its type ('' or 0
or false or '{}' or now()) and is listed in ``Seeded.filled`` so that the report shows it; a column
named here that no longer exists is left out and listed in ``Seeded.missing``.

The SQL is built from this module's own constants and numbers (hence the ``noqa: S608``): nothing
from outside reaches it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from bench.stack import Stack

NEUTRAL = {
    "character varying": "''",
    "text": "''",
    "integer": "0",
    "smallint": "0",
    "bigint": "0",
    "numeric": "0",
    "double precision": "0",
    "real": "0",
    "boolean": "false",
    "jsonb": "'{}'::jsonb",
    "json": "'{}'::json",
    "timestamp with time zone": "now()",
    "timestamp without time zone": "now()",
    "date": "current_date",
    "uuid": "gen_random_uuid()",
    "bytea": "''::bytea",
}


@dataclass
class Seeded:
    triggers: int
    runs: int
    seconds: float = 0.0
    vacuum_seconds: float = 0.0  # VACUUM ANALYZE and CHECKPOINT
    checkpoint: bool | None = None  # whether the CHECKPOINT after the seed was allowed
    filled: list[str] = field(default_factory=list)  # table.column given a neutral value
    missing: list[str] = field(default_factory=list)  # table.column named here but not in the schema
    rows: dict[str, int] = field(default_factory=dict)  # each table's row count afterwards


def seed(
    stack: Stack, *, owner_id: int, template_version_id: int, triggers: int, runs: int, days: int = 25
) -> Seeded:
    result = Seeded(triggers, runs)
    started = time.monotonic()
    base = {t: _max_id(stack, t) for t in ("workflows_workflow", "workflows_workflowversion")}
    base |= {t: _max_id(stack, t) for t in ("triggers_webhooktrigger", "triggers_delivery", "workflows_run")}
    wb, vb, tb = (
        base["workflows_workflow"],
        base["workflows_workflowversion"],
        base["triggers_webhooktrigger"],
    )
    db, rb = base["triggers_delivery"], base["workflows_run"]
    n = triggers
    # i: 1..triggers (one workflow, version and trigger each); j: 1..runs (one delivery and run each).
    # A row's time: evenly spread over the last `days` days, oldest first.
    workflow_ts = f"now() - interval '{days} days' + (i * interval '{days} days' / {n})"
    run_ts = f"now() - interval '{days} days' + (j * interval '{days} days' / {runs})"
    mine = f"{wb + 1} + ((j - 1) % {n})"  # the workflow of delivery j; version and trigger follow
    tables: list[tuple[str, str, dict[str, str]]] = [
        (
            "workflows_workflow",
            "i",
            {
                "id": f"{wb} + i",
                "name": "'seeded workflow ' || i",
                "description": "''",
                "created_at": workflow_ts,
                "updated_at": workflow_ts,
                "owner_id": str(owner_id),
                "published_version_id": f"{vb} + i",
            },
        ),
        (
            "workflows_workflowversion",
            "i",
            {
                "id": f"{vb} + i",
                "number": "1",
                "snapshot": f"(SELECT snapshot FROM workflows_workflowversion WHERE id = {template_version_id})",  # noqa: S608, E501
                "created_at": workflow_ts,
                "created_by_id": str(owner_id),
                "workflow_id": f"{wb} + i",
            },
        ),
        (
            "triggers_webhooktrigger",
            "i",
            {
                "id": f"{tb} + i",
                # 16 characters like secrets.token_urlsafe(12), spread over the index like real ones.
                "public_id": "substr(md5('public' || i), 1, 16)",
                "key_digest": "md5('key' || i) || md5('digest' || i)",
                "key_prefix": "substr(md5('key' || i), 1, 4)",
                "key_encrypted": "'seeded: no key'",
                "key_rotated_at": workflow_ts,
                "created_at": workflow_ts,
                "updated_at": workflow_ts,
                "workflow_id": f"{wb} + i",
                "payload_kind": "'none'",
                "payload_schema_json": "''",
                "payload_samples_json": "''",
                "dedupe_field": "''",
                "dedupe_window_seconds": "86400",
            },
        ),
        (
            "triggers_delivery",
            "j",
            {
                "id": f"{db} + j",
                "received_at": run_ts,
                "outcome": "'accepted'",
                "status_code": "202",
                "error": "''",
                "method": "'POST'",
                "content_type": "''",
                "body": "''::bytea",
                "body_size": "0",
                "headers": """'{"host": "hooks.example.com", "user-agent": "Sender/1.0",
                    "content-length": "0", "x-request-id": "seeded"}'::jsonb""",
                "query_string": "''",
                "workflow_id": mine,
                "trigger_id": f"{tb - wb} + {mine}",
                "version_id": f"{vb - wb} + {mine}",
            },
        ),
        (
            "workflows_run",
            "j",
            {
                "id": f"{rb} + j",
                "status": "'succeeded'",
                "error": "''",
                "created_at": run_ts,
                "started_at": f"{run_ts} + interval '40 milliseconds'",
                "finished_at": f"{run_ts} + interval '300 milliseconds'",
                "claims": "1",
                "delivery_id": f"{db} + j",
                "workflow_id": mine,
                "version_id": f"{vb - wb} + {mine}",
            },
        ),
    ]
    statements = ["BEGIN"]
    for table, variable, values in tables:
        values = _complete(stack, table, values, result)
        count = triggers if variable == "i" else runs
        columns = ", ".join(values)
        expressions = ", ".join(values.values())
        series = f"generate_series(1, {count}) AS {variable}"
        statements.append(f"INSERT INTO {table} ({columns}) SELECT {expressions} FROM {series}")  # noqa: S608
    for table in base:
        last = f"(SELECT max(id) FROM {table})"  # noqa: S608
        statements.append(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {last})")
    statements.append("COMMIT")
    stack.sql(";\n".join(statements), timeout=1800)
    result.seconds = round(time.monotonic() - started, 1)
    started = time.monotonic()
    for table in base:
        stack.sql(f"VACUUM ANALYZE {table}", timeout=1800)
    # Write the seed's dirty pages out now, so that the measurement does not pay for them (the
    # checkpointer would otherwise be flushing gigabytes of them meanwhile). Needs superuser or
    # pg_checkpoint; without them the measurement goes ahead and the report says so.
    try:
        stack.sql("CHECKPOINT", timeout=1800)
        result.checkpoint = True
    except RuntimeError:
        result.checkpoint = False
    result.vacuum_seconds = round(time.monotonic() - started, 1)
    result.rows = {table: int(stack.sql(f"SELECT count(*) FROM {table}")[0][0]) for table in base}  # noqa: S608
    return result


def _max_id(stack: Stack, table: str) -> int:
    return int(stack.sql(f"SELECT coalesce(max(id), 0) FROM {table}")[0][0])  # noqa: S608


def _complete(stack: Stack, table: str, values: dict[str, str], result: Seeded) -> dict[str, str]:
    """``values`` for the columns the table has, plus a neutral value for each other NOT NULL column
    without a default."""
    query = (
        "SELECT column_name, is_nullable, column_default IS NOT NULL OR is_identity = 'YES', data_type"
        " FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '%s'"
    )
    rows = stack.sql(query % table)
    columns = {
        name: (nullable == "YES", has_default == "t", kind) for name, nullable, has_default, kind in rows
    }
    completed = {}
    for name, expression in values.items():
        if name in columns:
            completed[name] = expression
        else:
            result.missing.append(f"{table}.{name}")
    for name, (nullable, has_default, kind) in columns.items():
        if name in completed or nullable or has_default:
            continue
        if kind not in NEUTRAL:
            raise RuntimeError(f"seed: {table}.{name} is NOT NULL of type {kind}, which seed.py cannot fill")
        completed[name] = NEUTRAL[kind]
        result.filled.append(f"{table}.{name}")
    return completed
