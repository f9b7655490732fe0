"""The sweeper re-sends what the broker may have lost. It publishes to the real (filesystem) broker."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tests.support.builders import create_workflow, webhook_path
from workflows.dispatch import runs_sweep_stale
from workflows.models import Run

pytestmark = pytest.mark.django_db


def queued_messages() -> list[int]:
    """Run ids waiting in the filesystem broker's queue folder."""
    folder = Path(str(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_out"]))
    ids = []
    for path in folder.glob("*.msg"):
        message = json.loads(path.read_text())
        ids.append(json.loads(base64.b64decode(message["body"]))[0][0])
    return ids


def empty_queue() -> None:
    for path in Path(str(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_out"])).glob("*.msg"):
        path.unlink()


@pytest.fixture
def runs(alice_api: APIClient, client: Client) -> list[Run]:
    workflow = create_workflow(alice_api)
    ids = [client.generic("POST", webhook_path(workflow)).json()["run_id"] for _ in range(4)]
    return list(Run.objects.filter(id__in=ids).order_by("id"))


@pytest.fixture(autouse=True)
def _start_with_an_empty_queue() -> None:
    empty_queue()


def age(run: Run, seconds: float) -> None:
    Run.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(seconds=seconds))


def test_fresh_queued_runs_are_left_alone(runs: list[Run]) -> None:
    assert runs_sweep_stale() == 0
    assert queued_messages() == []


def test_runs_queued_too_long_are_sent_again_once_per_interval(runs: list[Run], settings: object) -> None:
    age(runs[0], 3600)
    age(runs[1], 3600)
    assert runs_sweep_stale() == 2
    assert sorted(queued_messages()) == [runs[0].pk, runs[1].pk]
    # Sent again only after another interval, so a long backlog is not flooded with copies.
    assert runs_sweep_stale() == 0
    empty_queue()
    Run.objects.filter(pk=runs[0].pk).update(last_dispatched_at=timezone.now() - timedelta(hours=1))
    assert runs_sweep_stale() == 1
    assert queued_messages() == [runs[0].pk]


def test_a_queued_run_whose_message_still_waits_is_not_sent_again(runs: list[Run]) -> None:
    age(runs[0], 3600)
    assert runs_sweep_stale() == 1
    # Another interval later it is still queued, but its message is still in its queue: a backlog,
    # not a loss. Sending a copy would only give a worker a run that is already taken.
    Run.objects.filter(pk=runs[0].pk).update(last_dispatched_at=timezone.now() - timedelta(hours=1))
    assert runs_sweep_stale() == 0
    assert queued_messages() == [runs[0].pk]
    # The message is gone (Redis restarted empty): now it is sent again.
    empty_queue()
    assert runs_sweep_stale() == 1
    assert queued_messages() == [runs[0].pk]


def test_a_run_whose_lease_expired_is_sent_even_behind_a_backlog(runs: list[Run]) -> None:
    age(runs[0], 3600)
    assert runs_sweep_stale() == 1  # a message waits in the queue now
    expired = timezone.now() - timedelta(seconds=5)
    Run.objects.filter(pk=runs[1].pk).update(status="running", lease_expires_at=expired, claims=1)
    assert runs_sweep_stale() == 1
    assert sorted(queued_messages()) == [runs[0].pk, runs[1].pk]


def test_running_runs_with_an_expired_lease_are_sent_again(runs: list[Run]) -> None:
    past, future = timezone.now() - timedelta(seconds=5), timezone.now() + timedelta(minutes=5)
    Run.objects.filter(pk=runs[0].pk).update(status="running", lease_expires_at=past, claims=1)
    Run.objects.filter(pk=runs[1].pk).update(status="running", lease_expires_at=future, claims=1)
    assert runs_sweep_stale() == 1
    assert queued_messages() == [runs[0].pk]


def test_finished_runs_are_never_sent_again(runs: list[Run]) -> None:
    for run in runs:
        age(run, 3600)
    Run.objects.filter(pk__in=[r.pk for r in runs]).update(status="succeeded")
    assert runs_sweep_stale() == 0


def test_a_run_that_keeps_killing_workers_is_failed(runs: list[Run]) -> None:
    expired = timezone.now() - timedelta(seconds=5)
    Run.objects.filter(pk=runs[0].pk).update(
        status="running", lease_expires_at=expired, claims=settings.RUN_MAX_CLAIMS
    )
    runs_sweep_stale()
    run = Run.objects.get(pk=runs[0].pk)
    assert run.status == "failed"
    assert "abandoned" in run.error
    assert runs[0].pk not in queued_messages()
