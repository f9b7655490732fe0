"""Waking workers. The broker message is only a wake-up call: it may be lost or repeated, so the sweeper
re-sends what the database says is still waiting, and the engine's claim makes repeats harmless."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from workflows.models import Run, RunStatus
from workflows.queues import run_queue_for
from workflows.run_publisher import publish_run_directly

logger = logging.getLogger(__name__)


def run_dispatch(*, run_id: int, workflow_id: int) -> bool:
    from orchestrator.celery import app
    from workflows.tasks import execute_run

    # Each workflow's runs go to its shard's queue: a flood of one cannot hold up the others.
    queue = run_queue_for(workflow_id)
    try:
        if publish_run_directly(app, run_id=run_id, queue=queue):
            return True
        with app.producer_or_acquire() as producer:
            # With the broker down, fail now and leave the run to the sweeper instead of holding the
            # sender's request open. retry=False alone is not enough: opening the channel retries the
            # connection for 2 s first (kombu's interval_start); max_retries=0 gives up at once.
            producer.connection.ensure_connection(max_retries=0)
            execute_run.apply_async((run_id,), queue=queue, retry=False, producer=producer)
    except Exception as exc:  # any broker failure; the run is safe in the database
        logger.warning("could not publish run %s, the sweeper will re-send it: %s", run_id, exc)
        return False
    return True


def run_dispatch_on_commit(*, run_id: int, workflow_id: int) -> None:
    transaction.on_commit(lambda: run_dispatch(run_id=run_id, workflow_id=workflow_id))


def runs_sweep_stale() -> int:
    """Send runs whose retry is due; re-send runs queued too long and runs whose worker's lease ran out;
    fail runs claimed too often."""
    now = timezone.now()
    redispatch_before = now - timedelta(seconds=settings.RUN_REDISPATCH_AFTER_SECONDS)
    batch = settings.RUN_SWEEP_BATCH_SIZE
    _fail_poison_runs(now)
    not_sent_lately = Q(last_dispatched_at__isnull=True) | Q(last_dispatched_at__lt=redispatch_before)
    stale = Run.objects.filter(
        (Q(status=RunStatus.QUEUED, created_at__lt=redispatch_before) & not_sent_lately)
        | (Q(status=RunStatus.RUNNING, lease_expires_at__lt=now) & not_sent_lately)
        # A retry that has come due: sent once when due, and again later if that message was lost.
        | (
            Q(status=RunStatus.WAITING, due_at__lte=now)
            & (not_sent_lately | Q(last_dispatched_at__lt=F("due_at")))
        )
    )
    rows = list(stale.order_by("created_at").values_list("id", "workflow_id", "status")[:batch])
    rows = _skip_queued_behind_a_backlog(rows)
    if not rows:
        return 0
    ids = [run_id for run_id, _, _ in rows]
    Run.objects.filter(id__in=ids).update(last_dispatched_at=now)
    sent = sum(run_dispatch(run_id=run_id, workflow_id=workflow_id) for run_id, workflow_id, _ in rows)
    logger.info("sweeper re-sent %s of %s stale runs", sent, len(ids))
    return len(ids)


def _skip_queued_behind_a_backlog(rows: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """A run still queued after RUN_REDISPATCH_AFTER_SECONDS is usually not lost but waiting its turn
    in a backlog: re-sending it then only adds a message that finds the run taken. So queued runs are
    re-sent only when their queue is empty (their message is gone: Redis restarted, or the publish
    failed). Runs whose lease expired, or whose retry came due, are always sent."""
    queues = {run_queue_for(workflow_id) for _, workflow_id, status in rows if status == RunStatus.QUEUED}
    if not queues:
        return rows
    depths = _queue_depths(sorted(queues))
    return [row for row in rows if row[2] != RunStatus.QUEUED or not depths.get(run_queue_for(row[1]))]


def _queue_depths(queues: list[str]) -> dict[str, int]:
    """Messages waiting in each queue; empty when the broker cannot say (then everything is re-sent)."""
    from orchestrator.celery import app

    try:
        with app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=0)
            channel: Any = connection.default_channel  # kombu's virtual channel; typed as StdChannel
            return {name: channel.queue_declare(queue=name, passive=True).message_count for name in queues}
    except Exception as exc:  # the broker is down or the queue unknown: re-send, as before
        logger.info("sweeper could not read queue depths, re-sending all stale runs: %s", exc)
        return {}


def _fail_poison_runs(now: object) -> None:
    # A run whose worker died this many times probably kills workers: stop retrying it.
    Run.objects.filter(
        status=RunStatus.RUNNING, lease_expires_at__lt=now, claims__gte=settings.RUN_MAX_CLAIMS
    ).update(
        status=RunStatus.FAILED,
        finished_at=now,
        lease_expires_at=None,
        error=f"abandoned: its worker stopped {settings.RUN_MAX_CLAIMS} times while running it",
    )
