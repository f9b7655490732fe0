"""Instrumentation for the Celery worker under test, installed from outside the app (bench/worker.py).

It counts and times every SQL statement the worker sends (through Django's execute wrappers) and the
wall time of every task, and writes the totals to ``$BENCH_PROBE_DIR/probe-<pid>.json`` twice a
second, so the harness can read them while the worker runs and after it has been killed. Statement
time is wall time as the calling thread sees it: with many threads it includes waiting for the GIL
after the answer arrived, which is a real cost of doing the query from that worker.
The cost of the probe itself is two perf_counter calls and a lock per statement.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from celery.signals import task_postrun, task_prerun
from django.db.backends.signals import connection_created

_lock = threading.Lock()
_started: dict[str, float] = {}
_totals: dict[str, Any] = {"statements": {}, "tasks": {}, "connections": 0}
_writer_pid = 0


def _add(section: str, key: str, seconds: float) -> None:
    with _lock:
        entry = _totals[section].setdefault(key, [0, 0.0])
        entry[0] += 1
        entry[1] += seconds


def _timed_execute(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        verb = sql.lstrip().split(" ", 1)[0].upper() if sql else "?"
        _add("statements", verb, time.perf_counter() - started)


def _on_connection(sender: Any, connection: Any, **_: Any) -> None:
    _ensure_writer()
    with _lock:
        _totals["connections"] += 1
    # The same wrapper object gets a new connection each time the old one was closed: wrap it once.
    if _timed_execute not in connection.execute_wrappers:
        connection.execute_wrappers.append(_timed_execute)


def _on_prerun(task_id: str, **_: Any) -> None:
    _ensure_writer()
    _started[task_id] = time.perf_counter()


def _on_postrun(task_id: str, task: Any, **_: Any) -> None:
    started = _started.pop(task_id, None)
    if started is not None:
        _add("tasks", task.name, time.perf_counter() - started)


def _ensure_writer() -> None:
    # Lazily, and again after a fork: a prefork child needs a writer of its own.
    global _writer_pid
    if _writer_pid == os.getpid():
        return
    _writer_pid = os.getpid()
    threading.Thread(target=_write_forever, name="bench-probe", daemon=True).start()


def _write_forever() -> None:
    target = Path(os.environ["BENCH_PROBE_DIR"]) / f"probe-{os.getpid()}.json"
    partial = target.with_suffix(".tmp")
    while True:
        with _lock:
            text = json.dumps(_totals)
        partial.write_text(text)
        os.replace(partial, target)  # readers never see half a file
        time.sleep(0.5)


def install() -> None:
    connection_created.connect(_on_connection, weak=False)
    task_prerun.connect(_on_prerun, weak=False)
    task_postrun.connect(_on_postrun, weak=False)


def read(directory: Path) -> dict[str, Any]:
    """The totals of every process that wrote to ``directory``, summed."""
    merged: dict[str, Any] = {"statements": {}, "tasks": {}, "connections": 0}
    for path in directory.glob("probe-*.json"):
        data = json.loads(path.read_text())
        merged["connections"] += data["connections"]
        for section in ("statements", "tasks"):
            for key, (count, seconds) in data[section].items():
                entry = merged[section].setdefault(key, [0, 0.0])
                entry[0] += count
                entry[1] += seconds
    return merged
