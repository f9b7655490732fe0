"""The PostgreSQL backend's health check (orchestrator/postgresql/base.py): no round trip for a healthy
connection, and a connection the server ended is found unusable, so the next request reconnects."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, connections

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def other() -> Iterator[Any]:
    """A second connection to the test database, as a web process's kept-alive one."""
    wrapper = connections.create_connection("default")
    wrapper.ensure_connection()
    yield wrapper
    wrapper.close()


def _last_query_of(pid: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return str(row[0]) if row else ""


def test_the_backend_is_ours() -> None:
    assert connection.settings_dict["ENGINE"] == "orchestrator.postgresql"
    assert type(connections["default"]).__module__ == "orchestrator.postgresql.base"


def test_a_healthy_connection_is_checked_without_a_query(other: Any) -> None:
    with other.cursor() as cursor:
        cursor.execute("SELECT 'marker', pg_backend_pid()")
        pid = cursor.fetchone()[1]
    assert other.is_usable()
    assert _last_query_of(pid) == "SELECT 'marker', pg_backend_pid()"  # no SELECT 1 was sent


def test_a_connection_the_server_ended_is_unusable(other: Any) -> None:
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    deadline = time.monotonic() + 10
    while other.is_usable() and time.monotonic() < deadline:  # the server's goodbye is on its way
        time.sleep(0.01)
    assert not other.is_usable()

    # What Django does before a request's first query with CONN_HEALTH_CHECKS: reconnect, not fail.
    other.health_check_done = False
    with other.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone()[0] == 1
