"""The engine's claim and its end of a run, in SQL of their own: they run for every run a worker takes.

Through the ORM, compiling the claim's conditional update and the select_related read that followed
cost more worker CPU than the HTTP request the step makes (measured with a local receiver: the claim
was 40% of the engine's CPU per run). The statements here are the same ones, written out once.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection

from triggers.models import Delivery
from workflows.models import Run, RunStatus, Workflow, WorkflowVersion
from workflows.snapshots import version_from_text

# The SQL is put together from model metadata only; every value is a parameter (hence the noqa S608s).


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _dt(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _token(value: uuid.UUID | None) -> Any:
    return Run._meta.get_field("claim_token").get_db_prep_value(value, connection)


_CLAIM = (
    "UPDATE {run} SET status = %s, claim_token = %s, claims = claims + 1, "
    "started_at = COALESCE(started_at, %s), lease_expires_at = %s, due_at = NULL "
    "WHERE id = %s AND claims < %s "
    "AND (status = %s OR (status = %s AND due_at <= %s) OR (status = %s AND lease_expires_at < %s)) "
    "RETURNING *"
)


@cache
def _claim_sql(vendor: str) -> str:
    claim = _CLAIM.format(run=_q(Run._meta.db_table))
    if vendor != "postgresql":
        return claim
    # One round trip on PostgreSQL: the claim, the workflow's name, the version's snapshot and what
    # the steps read of the delivery (triggers/payload.py: body, content type, headers, query).
    return (
        f"WITH c AS ({claim}) SELECT c.*, w.name AS workflow_name, v.snapshot::text AS version_snapshot, "  # noqa: S608
        "d.body AS delivery_body, d.content_type AS delivery_content_type, "
        "d.headers::text AS delivery_headers, d.query_string AS delivery_query_string "
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
    params = [
        RunStatus.RUNNING.value, _token(token), _dt(now), _dt(lease_until), run_id, max_claims,
        RunStatus.QUEUED.value, RunStatus.WAITING.value, _dt(now), RunStatus.RUNNING.value, _dt(now),
    ]  # fmt: skip
    run = next(iter(Run.objects.raw(_claim_sql(connection.vendor), params)), None)
    if run is None:
        return None
    if connection.vendor == "postgresql":
        name, snapshot = getattr(run, "workflow_name"), getattr(run, "version_snapshot")  # noqa: B009
        run.delivery = _delivery_from_columns(run)
    else:
        with connection.cursor() as cursor:
            cursor.execute(_context_sql(), [run.workflow_id, run.version_id])
            name, snapshot = cursor.fetchone()
        run.delivery = _delivery(run.delivery_id)
    run.workflow = Workflow(id=run.workflow_id, name=name)
    run.version = version_from_text(version_id=run.version_id, workflow_id=run.workflow_id, snapshot=snapshot)
    return run


def _delivery_from_columns(run: Run) -> Delivery | None:
    """The delivery's fields the steps read, from the claim's own row; not a full row."""
    if run.delivery_id is None:
        return None
    headers = getattr(run, "delivery_headers")  # noqa: B009
    return Delivery(
        id=run.delivery_id,
        workflow_id=run.workflow_id,
        body=bytes(getattr(run, "delivery_body") or b""),  # noqa: B009
        content_type=getattr(run, "delivery_content_type"),  # noqa: B009
        headers=json.loads(headers) if headers else {},
        query_string=getattr(run, "delivery_query_string"),  # noqa: B009
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
) -> bool:
    """Finish the run (or park it until ``due``) if this claim still holds it; False if it does not."""
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
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount == 1
