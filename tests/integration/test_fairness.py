"""Fairness between workflows: a backlog of one workflow's runs must not hold up another's.

Real processes: the tier's Celery worker (threads, concurrency 4) and beat, its private Redis, the live
server. Workflow A gets a flood of runs, each with one step calling a local receiver that answers after
20 ms; then workflow B gets a few webhooks. With one FIFO queue B's runs would finish after the whole
flood. The assertion is an outcome, not a time: every B run finished while most of A's flood had not.
The figures are printed (`pytest -s`).
"""

from __future__ import annotations

import statistics

import pytest
import redis
import requests
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from tests.integration.flow import post_webhook, wait_for_finished_run
from tests.integration.processes import CeleryCluster, RedisServer, wait_until
from tests.support.builders import create_workflow, http_step
from tests.support.receiver import Receiver, Reply
from triggers.models import Delivery, DeliveryOutcome
from workflows.dispatch import run_dispatch
from workflows.models import Run, RunStatus, WorkflowVersion
from workflows.queues import run_queue_for, run_queue_names

pytestmark = pytest.mark.django_db(transaction=True)

FLOOD = 2000
QUIET_RUNS = 5
# B must be done while at least this share of A's flood is still unfinished. With one FIFO queue the
# share is 0 (B comes last); with the shards it is above 0.9 on a loaded 2-core machine.
MIN_FLOOD_STILL_WAITING = 0.5
FINISHED = (RunStatus.SUCCEEDED, RunStatus.FAILED)


def enqueue_flood(workflow_id: int, trigger_id: int, count: int) -> list[int]:
    """``count`` accepted deliveries with their queued runs, written directly (posting 2,000 webhooks
    would take longer than the measurement), then sent to the workers by the product's dispatch."""
    version = WorkflowVersion.objects.get(workflow_id=workflow_id, number=1)
    deliveries = Delivery.objects.bulk_create(
        Delivery(
            workflow_id=workflow_id,
            trigger_id=trigger_id,
            version=version,
            outcome=DeliveryOutcome.ACCEPTED,
            status_code=202,
            method="POST",
        )
        for _ in range(count)
    )
    runs = Run.objects.bulk_create(
        Run(workflow_id=workflow_id, version=version, delivery=delivery) for delivery in deliveries
    )
    for run in runs:
        assert run_dispatch(run_id=run.pk, workflow_id=workflow_id)
    return [run.pk for run in runs]


def test_a_flood_of_one_workflow_does_not_hold_up_another(
    alice_api: APIClient,
    receiver: Receiver,
    workers: CeleryCluster,
    redis_server: RedisServer,
    public_base_url: str,
    http: requests.Session,
) -> None:
    receiver.replies = [Reply(delay=0.02)]
    flood = create_workflow(alice_api, name="Flood", steps=[http_step(f"{receiver.url}/flood")])
    quiet = create_workflow(alice_api, name="Quiet", steps=[http_step(f"{receiver.url}/quiet")])
    if settings.RUN_QUEUE_SHARDS > 1:
        assert run_queue_for(flood["id"]) != run_queue_for(quiet["id"])  # consecutive ids: other shards
    try:
        flood_ids = enqueue_flood(flood["id"], flood["trigger"]["id"], FLOOD)
        quiet_ids = []
        for _ in range(QUIET_RUNS):
            response = post_webhook(http, quiet["trigger"]["webhook_url"])
            assert response.status_code == 202, response.text
            quiet_ids.append(response.json()["run_id"])

        def quiet_finished() -> bool:
            return Run.objects.filter(id__in=quiet_ids, status__in=FINISHED).count() == QUIET_RUNS

        wait_until(quiet_finished, timeout=300, what="workflow B's runs to finish", interval=0.2)
        quiet_runs = list(Run.objects.filter(id__in=quiet_ids))
        quiet_done_at = max(run.finished_at for run in quiet_runs if run.finished_at)
        flood_done_before = Run.objects.filter(
            id__in=flood_ids, status__in=FINISHED, finished_at__lte=quiet_done_at
        ).count()
        waiting = 1 - flood_done_before / FLOOD
        latencies = [
            (run.finished_at - run.created_at).total_seconds() for run in quiet_runs if run.finished_at
        ]
        print(
            f"\nfairness: {FLOOD} runs of A queued, then {QUIET_RUNS} webhooks to B "
            f"(shards: {settings.RUN_QUEUE_SHARDS}); "
            f"A runs finished before the last B run: {flood_done_before} ({1 - waiting:.1%}); "
            f"B webhook -> finished s: median {statistics.median(latencies):.2f}, max {max(latencies):.2f}"
        )

        assert {run.status for run in quiet_runs} == {RunStatus.SUCCEEDED}
        assert waiting >= MIN_FLOOD_STILL_WAITING, f"only {waiting:.1%} of A's flood was still waiting"
    finally:
        _drop_flood(flood["id"], redis_server)


def test_a_worker_started_without_queues_consumes_every_shard(
    alice_api: APIClient,
    receiver: Receiver,
    workers: CeleryCluster,
    public_base_url: str,
    http: requests.Session,
) -> None:
    # Consecutive workflow ids cover every shard. A shard no worker consumed would never run: the
    # sweeper re-sends a waiting run to the same queue.
    workflows = [
        create_workflow(alice_api, name=f"Shard {n}", steps=[http_step(f"{receiver.url}/{n}")])
        for n in range(settings.RUN_QUEUE_SHARDS)
    ]
    assert {run_queue_for(workflow["id"]) for workflow in workflows} == set(run_queue_names())

    run_ids = [post_webhook(http, w["trigger"]["webhook_url"]).json()["run_id"] for w in workflows]

    statuses = [wait_for_finished_run(alice_api, run_id)["status"] for run_id in run_ids]
    assert statuses == ["succeeded"] * len(workflows)


def _drop_flood(workflow_id: int, redis_server: RedisServer) -> None:
    """Stop the rest of the flood so later tests do not wait behind it: no run of A is left for the
    sweeper to re-send, and its queue's messages are deleted (a message still held by the worker finds
    its run finished and does nothing)."""
    now = timezone.now()
    left = Run.objects.filter(workflow_id=workflow_id).exclude(status__in=FINISHED)
    left.update(status=RunStatus.FAILED, finished_at=now, error="dropped by the test", lease_expires_at=None)
    client = redis.Redis.from_url(redis_server.url)
    client.delete(run_queue_for(workflow_id))
    client.close()
