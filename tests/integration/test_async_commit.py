"""WEBHOOK_ASYNC_COMMIT: accepted webhooks commit without waiting for the WAL to reach the disk.

Two checks. The setting reaches the accepted webhook's own transaction (and no further). And who
writes the WAL: a durable commit writes (and flushes) it itself before it returns, one WAL write per
accepted webhook; an asynchronous commit leaves that to the WAL writer, which writes every
wal_writer_delay (200 ms) whatever has piled up. The WAL counters are the server's, so the second
check needs the server to itself: a bench or another test run writing meanwhile would add writes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.db import connection, transaction
from django.test import Client
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from tests.integration.conftest import point_celery_at
from tests.integration.processes import RedisServer
from tests.support.builders import create_workflow, webhook_path
from triggers.intake_store import store_accepted, trigger_lookup
from workflows.models import Run

pytestmark = pytest.mark.django_db(transaction=True)

WEBHOOKS = 200
# The request's part of a delivery, for store_accepted called directly: an empty POST.
FIELDS = {
    "method": "POST",
    "content_type": "",
    "body": b"",
    "body_size": 0,
    "headers": {},
    "query_string": "",
}


@pytest.fixture
def _runs_left_queued(redis_server: RedisServer) -> Iterator[None]:
    """Runs published where no worker listens (another Redis database): a worker left running by an
    earlier test would otherwise execute them, and its commits would count too."""
    point_celery_at(redis_server.url.rsplit("/", 1)[0] + "/15")
    yield
    point_celery_at(redis_server.url)


@pytest.fixture(params=[False, True], ids=["durable", "async commit"])
def asynchronous(request: pytest.FixtureRequest, settings: Settings) -> bool:
    settings.WEBHOOK_ASYNC_COMMIT = request.param
    return bool(request.param)


def _wal_writes() -> int:
    with connection.cursor() as cursor:
        # PostgreSQL 18 moved the counter from pg_stat_wal to pg_stat_io.
        if connection.pg_version >= 180000:  # type: ignore[attr-defined]
            cursor.execute("SELECT sum(writes)::bigint FROM pg_stat_io WHERE object = 'wal'")
        else:
            cursor.execute("SELECT wal_write FROM pg_stat_wal")
        return int(cursor.fetchone()[0])


def _flush_own_statistics() -> None:
    """A backend adds its WAL counts to the shared statistics when it exits (or, busy, once a
    second): end ours, and wait until it is gone."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    connection.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
            if cursor.fetchone()[0] == 0:
                return
        time.sleep(0.05)
    raise AssertionError("the backend did not exit")


@pytest.mark.usefixtures("_runs_left_queued")
def test_accepted_webhooks_commit_without_waiting_for_the_disk_only_when_asked(
    alice_api: APIClient, asynchronous: bool
) -> None:
    workflow = create_workflow(alice_api)
    path = webhook_path(workflow)
    client = Client()
    assert client.generic("POST", path, b"").status_code == 202  # the trigger is read and remembered
    _flush_own_statistics()
    before = _wal_writes()
    for _ in range(WEBHOOKS):
        assert client.generic("POST", path, b"").status_code == 202
    _flush_own_statistics()
    writes = _wal_writes() - before
    if asynchronous:
        assert writes < WEBHOOKS / 2, writes
    else:
        assert writes >= WEBHOOKS, writes
    # Either way every accepted webhook is there, with its run: the first (its trigger read afresh)
    # and the rest (the trigger remembered, the insert checking it is unchanged) alike.
    assert Run.objects.filter(workflow_id=workflow["id"], delivery__isnull=False).count() == WEBHOOKS + 1


def test_the_setting_lasts_for_the_webhooks_own_transaction(alice_api: APIClient, asynchronous: bool) -> None:
    workflow = create_workflow(alice_api)
    found = trigger_lookup(public_id=webhook_path(workflow).split("/")[2])
    assert found is not None
    with connection.cursor() as cursor:
        # A transaction Django does not know of, so that the statement is stored as in autocommit
        # while what it set can still be read before the end.
        cursor.execute("BEGIN")
        try:
            assert store_accepted(found=found, fields=FIELDS) is not None
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == ("off" if asynchronous else "on")
        finally:
            cursor.execute("ROLLBACK")
        cursor.execute("SHOW synchronous_commit")  # and only for that transaction
        assert cursor.fetchone()[0] == "on"


def test_inside_a_callers_transaction_the_setting_is_not_applied(
    alice_api: APIClient, settings: Settings
) -> None:
    """set_config(..., true) would last until the caller's transaction ends, and relax its other
    writes too: there the webhook is stored durably."""
    settings.WEBHOOK_ASYNC_COMMIT = True
    found = trigger_lookup(public_id=webhook_path(create_workflow(alice_api)).split("/")[2])
    assert found is not None
    with transaction.atomic(), connection.cursor() as cursor:
        assert store_accepted(found=found, fields=FIELDS) is not None
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
        transaction.set_rollback(True)
