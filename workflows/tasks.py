"""Celery tasks are thin: load by id, call a service."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import task_postrun, task_prerun
from django.db import close_old_connections

from workflows import dispatch, engine, retention


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(**_: Any) -> None:
    # What Django's request cycle does: drop a connection past CONN_MAX_AGE or found broken, keep the
    # rest. Celery's own fixup would close every connection around every task (a new PostgreSQL
    # backend per step: about 8 ms of its CPU); settings.CELERY_DB_REUSE_MAX turns that off.
    close_old_connections()


@shared_task(name="workflows.execute_run", acks_late=True, reject_on_worker_lost=True)
def execute_run(run_id: int) -> None:
    engine.run_execute(run_id=run_id)


@shared_task(name="workflows.sweep_stale_runs", ignore_result=True)
def sweep_stale_runs() -> int:
    return dispatch.runs_sweep_stale()


@shared_task(name="workflows.purge_history", ignore_result=True)
def purge_history() -> int:
    return retention.history_purge()
