"""WEBHOOK_ASYNC_COMMIT: accepted webhooks commit without waiting for the WAL to reach the disk.

What shows it is who writes the WAL. A durable commit writes (and flushes) it itself before it
returns: one WAL write per accepted webhook. An asynchronous commit leaves that to the WAL writer,
which writes every wal_writer_delay (200 ms) whatever has piled up.
"""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test import Client
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from tests.support.builders import create_workflow, webhook_path
from workflows.models import Run

pytestmark = pytest.mark.django_db(transaction=True)

WEBHOOKS = 200


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


@pytest.mark.parametrize("asynchronous", [False, True], ids=["durable", "async commit"])
def test_accepted_webhooks_commit_without_waiting_for_the_disk_only_when_asked(
    alice_api: APIClient, settings: Settings, asynchronous: bool
) -> None:
    settings.WEBHOOK_ASYNC_COMMIT = asynchronous
    path = webhook_path(create_workflow(alice_api))
    client = Client()
    assert client.generic("POST", path, b"").status_code == 202  # the trigger is read and remembered
    _flush_own_statistics()
    before = _wal_writes()
    for _ in range(WEBHOOKS):
        assert client.generic("POST", path, b"").status_code == 202
    _flush_own_statistics()
    writes = _wal_writes() - before
    # Everything else on the server (the WAL writer, autovacuum) only adds writes.
    if asynchronous:
        assert writes < WEBHOOKS / 2, writes
    else:
        assert writes >= WEBHOOKS, writes
    # Either way every accepted webhook is there, with its run: the first (its trigger read afresh)
    # and the rest (the trigger remembered, the insert checking it is unchanged) alike.
    assert Run.objects.filter(status="queued").count() == WEBHOOKS + 1
