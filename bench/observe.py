"""Reading what happened: runs from the database, the receiver's records, PostgreSQL's counters."""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests

from bench.stack import Stack

FINISHED = ("succeeded", "failed")


@dataclass
class RunRow:
    id: int
    status: str
    created_at: float  # unix times, from the database (the same machine's clock as everyone's)
    started_at: float | None
    finished_at: float | None
    claims: int
    redispatched: bool  # the sweeper re-sent it at least once


def finished_count(stack: Stack) -> int:
    rows = stack.sql("SELECT count(*) FROM workflows_run WHERE status IN ('succeeded', 'failed')")
    return int(rows[0][0])


def wait_finished(stack: Stack, expected: int, *, timeout: float, stall: float = 60) -> float:
    """Poll until ``expected`` runs have finished; give up after ``timeout`` seconds, or after
    ``stall`` seconds without progress. Returns the seconds waited."""
    started = time.monotonic()
    last_count, last_progress = -1, started
    while True:
        count = finished_count(stack)
        now = time.monotonic()
        if count >= expected or now - started > timeout or now - last_progress > stall:
            return now - started
        if count != last_count:
            last_count, last_progress = count, now
        time.sleep(0.5)


def wait_queue_empty(stack: Stack, *, timeout: float) -> float:
    """Poll until the broker's queues are empty and nothing is reserved by a worker (Celery's Redis
    transport keeps reserved messages in "unacked"); returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if stack.queued() == 0 and stack.reserved() == 0:
            break
        time.sleep(0.5)
    return round(time.monotonic() - started, 1)


def runs(stack: Stack) -> list[RunRow]:
    rows = stack.sql(
        "SELECT id, status, extract(epoch FROM created_at), extract(epoch FROM started_at),"
        " extract(epoch FROM finished_at), claims, last_dispatched_at IS NOT NULL"
        " FROM workflows_run ORDER BY id"
    )
    return [
        RunRow(int(i), s, float(c), _float(st), _float(f), int(n), r == "t") for i, s, c, st, f, n, r in rows
    ]


def _float(text: str) -> float | None:
    return float(text) if text else None


def received(stack: Stack) -> tuple[dict[int, float], int, int]:
    """When the receiver first saw each run's request; how many requests it saw; its peak in flight."""
    data = requests.get(f"{stack.receiver_url}/_records", timeout=30).json()
    first: dict[int, float] = {}
    for run_id, at in data["records"]:
        first.setdefault(run_id, at)
    return first, len(data["records"]), data["peak_in_flight"]


# PostgreSQL's cumulative counters: for this database, and WAL for the whole cluster.
_COUNTERS = (
    "SELECT d.xact_commit, d.tup_inserted, d.tup_updated, d.tup_fetched, w.wal_records, w.wal_sync"
    " FROM pg_stat_database d, pg_stat_wal w WHERE d.datname = current_database()"
)
COUNTER_NAMES = ("commits", "rows_inserted", "rows_updated", "rows_fetched", "wal_records", "wal_syncs")


def pg_counters(stack: Stack) -> dict[str, int]:
    """Backends send their counters only now and then (up to 10 s late when idle); ending them makes
    them send everything. Django reconnects on its next query, so the services are unharmed."""
    stack.sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    time.sleep(0.5)
    values = stack.sql(_COUNTERS)[0]
    return {name: int(value) for name, value in zip(COUNTER_NAMES, values, strict=True)}
