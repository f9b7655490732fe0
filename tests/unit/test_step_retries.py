"""Retries of a Send HTTP Request step: scheduled in the database, each attempt logged, one key.

Due times are moved into the past instead of sleeping ("time travel"); the sweeper and the engine are
called as beat and a worker would call them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tests.support.builders import create_workflow, http_step, webhook_path
from tests.support.receiver import Receiver, Reply
from workflows.dispatch import runs_sweep_stale
from workflows.engine import run_execute
from workflows.models import Run, StepAttempt

pytestmark = pytest.mark.django_db

FAST = {"max_attempts": 5, "schedule": [5, 30, 120]}


def start(api: APIClient, client: Client, url: str, **config: Any) -> int:
    workflow = create_workflow(api, steps=[http_step(url, **config)])
    run_id: int = client.generic("POST", webhook_path(workflow)).json()["run_id"]
    return run_id


def come_due(run_id: int) -> None:
    """Time travel: the waiting run's retry is due now."""
    Run.objects.filter(pk=run_id).update(due_at=timezone.now() - timedelta(seconds=1))


def test_a_receiver_that_fails_twice_gets_three_attempts_with_one_key(
    alice_api: APIClient, client: Client, receiver: Receiver
) -> None:
    receiver.replies = [Reply(status=503), Reply(status=502), Reply(status=200)]
    run_id = start(alice_api, client, receiver.url, retry=FAST)
    before = timezone.now()
    assert run_execute(run_id=run_id) == "waiting"
    run = Run.objects.get(pk=run_id)
    # Backoff honoured: the first retry waits 5 s give or take the 20% jitter.
    assert run.due_at is not None
    assert 4 <= (run.due_at - before).total_seconds() <= 6.5
    assert run_execute(run_id=run_id) is None  # not due yet: a redelivered message does nothing
    come_due(run_id)
    assert run_execute(run_id=run_id) == "waiting"
    come_due(run_id)
    assert run_execute(run_id=run_id) == "succeeded"
    keys = {r.headers["idempotency-key"] for r in receiver.requests}
    assert len(receiver.requests) == 3 and len(keys) == 1
    attempts = list(StepAttempt.objects.filter(step_result__run_id=run_id))
    assert [(a.number, a.status, a.response_status) for a in attempts] == [
        (1, "failed", 503),
        (2, "failed", 502),
        (3, "succeeded", 200),
    ]
    assert attempts[0].retry_at is not None and attempts[2].retry_at is None
    assert Run.objects.get(pk=run_id).step_results.get().attempts == 3


def test_retry_after_is_honoured(alice_api: APIClient, client: Client, receiver: Receiver) -> None:
    receiver.replies = [Reply(status=429, headers={"Retry-After": "120"}), Reply()]
    run_id = start(alice_api, client, receiver.url, retry=FAST)
    before = timezone.now()
    assert run_execute(run_id=run_id) == "waiting"
    waited = (Run.objects.get(pk=run_id).due_at - before).total_seconds()  # type: ignore[operator]
    assert 119 <= waited <= 121


@pytest.mark.parametrize("status", [400, 404, 410, 422])
def test_client_errors_are_not_retried(
    alice_api: APIClient, client: Client, receiver: Receiver, status: int
) -> None:
    receiver.replies = [Reply(status=status)]
    run_id = start(alice_api, client, receiver.url, retry=FAST)
    assert run_execute(run_id=run_id) == "failed"
    assert len(receiver.requests) == 1


def test_a_step_gives_up_after_max_attempts(alice_api: APIClient, client: Client, receiver: Receiver) -> None:
    receiver.replies = [Reply(status=500)]
    run_id = start(alice_api, client, receiver.url, retry={"max_attempts": 2})
    assert run_execute(run_id=run_id) == "waiting"
    come_due(run_id)
    assert run_execute(run_id=run_id) == "failed"
    assert len(receiver.requests) == 2


def test_a_retry_delivered_twice_is_sent_once(
    alice_api: APIClient, client: Client, receiver: Receiver
) -> None:
    receiver.replies = [Reply(status=500), Reply()]
    run_id = start(alice_api, client, receiver.url, retry=FAST)
    run_execute(run_id=run_id)
    come_due(run_id)
    results = [run_execute(run_id=run_id), run_execute(run_id=run_id)]
    assert results == ["succeeded", None]
    assert len(receiver.requests) == 2


def test_the_sweeper_sends_a_due_retry_and_no_early_one(
    alice_api: APIClient, client: Client, receiver: Receiver
) -> None:
    receiver.replies = [Reply(status=500), Reply()]
    run_id = start(alice_api, client, receiver.url, retry=FAST)
    run_execute(run_id=run_id)
    assert runs_sweep_stale() == 0
    come_due(run_id)
    assert runs_sweep_stale() == 1
    assert Run.objects.get(pk=run_id).last_dispatched_at is not None


def test_a_failed_step_may_let_the_run_continue(
    alice_api: APIClient, client: Client, receiver: Receiver
) -> None:
    receiver.replies = [Reply(status=400), Reply()]
    workflow = create_workflow(
        alice_api,
        steps=[
            http_step(receiver.url, name="optional", continue_on_failure=True),
            http_step(receiver.url, name="main"),
        ],
    )
    run_id = client.generic("POST", webhook_path(workflow)).json()["run_id"]
    assert run_execute(run_id=run_id) == "succeeded"
    run = Run.objects.get(pk=run_id)
    assert "optional" in run.error
    assert [r.status for r in run.step_results.all()] == ["failed", "succeeded"]
