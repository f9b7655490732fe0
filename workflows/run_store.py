"""The engine's claim and its end of a run, in SQL of their own: they run for every run a worker takes.

Through the ORM, compiling the claim's conditional update and the select_related read that followed
cost more worker CPU than the HTTP request the step makes (measured with a local receiver: the claim
was 40% of the engine's CPU per run). The statements here are the same ones, written out once. On
PostgreSQL the claimed row is read with a plain cursor too: a raw queryset works out its column
mapping and converters on every call (~10% of the engine's CPU per run).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from orchestrator import fastsave
from triggers.models import Delivery
from workflows.models import Run, RunStatus, Workflow, WorkflowVersion
from workflows.snapshots import version_from_text

# The SQL is put together from model metadata only; every value is a parameter (hence the noqa S608s).


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _dt(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _token(value: uuid.UUID | None, conn: BaseDatabaseWrapper | None = None) -> Any:
    return Run._meta.get_field("claim_token").get_db_prep_value(value, conn or connection)


_CLAIM = (
    "UPDATE {run} SET status = %s, claim_token = %s, claims = claims + 1, "
    "started_at = COALESCE(started_at, %s), lease_expires_at = %s, due_at = NULL "
    "WHERE id = %s AND claims < %s "
    "AND (status = %s OR (status = %s AND due_at <= %s) OR (status = %s AND lease_expires_at < %s)) "
    "RETURNING *"
)


# A Run's columns in the order of its concrete fields: what Model.from_db takes positionally.
_RUN_FIELDS = tuple(f.attname for f in Run._meta.concrete_fields)


@cache
def _claim_sql(vendor: str) -> str:
    claim = _CLAIM.format(run=_q(Run._meta.db_table))
    if vendor != "postgresql":
        return claim
    # One round trip on PostgreSQL: the claim, the workflow's name, the version's snapshot and what
    # the steps read of the delivery (triggers/payload.py: body, content type, headers, query).
    run_columns = ", ".join(f"c.{_q(f.column)}" for f in Run._meta.concrete_fields)
    return (
        f"WITH c AS ({claim}) SELECT {run_columns}, w.name, v.snapshot::text, "  # noqa: S608
        "d.body, d.content_type, d.headers::text, d.query_string "
        f"FROM c JOIN {_q(Workflow._meta.db_table)} w ON w.id = c.workflow_id "
        f"JOIN {_q(WorkflowVersion._meta.db_table)} v ON v.id = c.version_id "
        f"LEFT JOIN {_q(Delivery._meta.db_table)} d ON d.id = c.delivery_id"
    )


@cache
def _context_sql() -> str:
    return (
        f"SELECT w.name, v.snapshot FROM {_q(Workflow._meta.db_table)} w "  # noqa: S608
        f"JOIN {_q(WorkflowVersion._meta.db_table)} v ON v.workflow_id = w.id WHERE w.id = %s AND v.id = %s"
    )


def run_claim_row(
    *, run_id: int, token: uuid.UUID, now: datetime, lease_until: datetime, max_claims: int
) -> Run | None:
    """Claim the run if it is queued, due or abandoned; the claimed row with its workflow, version and
    delivery attached, or None when it was not claimable."""
    conn = connections[DEFAULT_DB_ALIAS]
    now_db = conn.ops.adapt_datetimefield_value(now)
    params = [
        RunStatus.RUNNING.value, _token(token, conn), now_db, conn.ops.adapt_datetimefield_value(lease_until),
        run_id, max_claims, RunStatus.QUEUED.value, RunStatus.WAITING.value, now_db, RunStatus.RUNNING.value,
        now_db,
    ]  # fmt: skip
    if conn.vendor == "postgresql":
        return _claimed_with_context(conn, params)
    run = next(iter(Run.objects.raw(_claim_sql(conn.vendor), params)), None)
    if run is None:
        return None
    with conn.cursor() as cursor:
        cursor.execute(_context_sql(), [run.workflow_id, run.version_id])
        name, snapshot = cursor.fetchone()
    run.delivery = _delivery(run.delivery_id)
    return _with_context(run, name, snapshot)


def _claimed_with_context(conn: BaseDatabaseWrapper, params: list[Any]) -> Run | None:
    with conn.cursor() as cursor:
        cursor.execute(_claim_sql(conn.vendor), params)
        row = cursor.fetchone()
    if row is None:
        return None
    # PostgreSQL hands every Run column back as its field holds it (no converters), as from_db expects.
    fields = len(_RUN_FIELDS)
    run = Run.from_db(conn.alias, _RUN_FIELDS, row[:fields])
    name, snapshot, *delivery = row[fields:]
    run.delivery = _delivery_from_columns(run, *delivery)
    return _with_context(run, name, snapshot)


def _with_context(run: Run, name: str, snapshot: str | dict[str, Any]) -> Run:
    run.workflow = Workflow(id=run.workflow_id, name=name)
    run.version = version_from_text(version_id=run.version_id, workflow_id=run.workflow_id, snapshot=snapshot)
    return run


def _delivery_from_columns(
    run: Run, body: Any, content_type: str, headers: str | None, query_string: str
) -> Delivery | None:
    """The delivery's fields the steps read, from the claim's own row; not a full row."""
    if run.delivery_id is None:
        return None
    return Delivery(
        id=run.delivery_id,
        workflow_id=run.workflow_id,
        body=bytes(body or b""),
        content_type=content_type,
        headers=json.loads(headers) if headers else {},
        query_string=query_string,
    )


def _delivery(delivery_id: int | None) -> Delivery | None:
    if delivery_id is None:
        return None
    sql = f"SELECT * FROM {_q(Delivery._meta.db_table)} WHERE id = %s"  # noqa: S608
    return next(iter(Delivery.objects.raw(sql, [delivery_id])), None)


def run_end(
    *,
    run_id: int,
    token: uuid.UUID,
    status: str,
    error: str,
    finished_at: datetime | None,
    due: datetime | None,
    also: Sequence[fastsave.Update] = (),
) -> bool:
    """Finish the run (or park it until ``due``) if this claim still holds it; False if it does not.
    The updates in ``also`` (the last step's end) are made first, whether or not the claim holds, in
    the same statement on PostgreSQL."""
    table = _q(Run._meta.db_table)
    if due is not None:
        sql = (
            f"UPDATE {table} SET status = %s, due_at = %s, lease_expires_at = NULL, claim_token = NULL "  # noqa: S608
            "WHERE id = %s AND claim_token = %s AND status = %s"
        )
        params = [status, _dt(due), run_id, _token(token), RunStatus.RUNNING.value]
    else:
        sql = (
            f"UPDATE {table} SET status = %s, error = %s, finished_at = %s, lease_expires_at = NULL "  # noqa: S608
            "WHERE id = %s AND claim_token = %s AND status = %s"
        )
        params = [status, error, _dt(finished_at) if finished_at else None, run_id, _token(token),
                  RunStatus.RUNNING.value]  # fmt: skip
    return fastsave.updates_then(also, sql, params) == 1
