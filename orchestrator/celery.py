"""The Celery application. Tasks carry only ids; the database is the source of truth."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")

app = Celery("orchestrator")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _task_queues() -> dict[str, object]:
    # Evaluated when the configuration is first read, once Django's settings are loaded. A default,
    # so an explicit CELERY_TASK_QUEUES would still win.
    from workflows.queues import celery_task_queues

    return {"task_queues": celery_task_queues()}


# Runs are spread over shard queues by workflow (workflows/queues.py): a worker started without -Q
# consumes all of them and the default queue, where the periodic tasks below are sent.
app.add_defaults(_task_queues)


@app.on_after_finalize.connect
def _schedule_sweeper(sender: Celery, **_: object) -> None:
    from django.conf import settings

    sender.add_periodic_task(
        settings.RUN_SWEEP_INTERVAL_SECONDS, sender.signature("workflows.sweep_stale_runs"), name="sweep"
    )
    sender.add_periodic_task(
        settings.RETENTION_INTERVAL_SECONDS, sender.signature("workflows.purge_history"), name="retention"
    )
