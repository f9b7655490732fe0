"""Celery tasks are thin: load by id, call a service."""

from __future__ import annotations

from celery import shared_task

from workflows import dispatch, engine, retention


@shared_task(name="workflows.execute_run", acks_late=True, reject_on_worker_lost=True)
def execute_run(run_id: int) -> None:
    engine.run_execute(run_id=run_id)


@shared_task(name="workflows.sweep_stale_runs", ignore_result=True)
def sweep_stale_runs() -> int:
    return dispatch.runs_sweep_stale()


@shared_task(name="workflows.purge_history", ignore_result=True)
def purge_history() -> int:
    return retention.history_purge()
