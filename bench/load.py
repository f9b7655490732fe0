"""The first load generator: POSTs from threads with http.client over kept-alive connections.

Kept only as the "threads" engine of the loadgen scenario, which compares it with bench/loadgen.py's
generator and with wrk: on two cores it costs ~0.25 ms of CPU per request (http.client's header
handling in Python, and the GIL passed between 16-64 threads), which at the bare view's rate is CPU
taken from the server. The scenarios use bench/loadgen.py.
"""

from __future__ import annotations

import http.client
import itertools
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Accepted:
    run_id: int
    sent_at: float  # unix time the request was sent
    accepted_at: float  # unix time the 202 was read


@dataclass
class LoadResult:
    requested: int
    concurrency: int
    started_at: float
    finished_at: float
    cpu_seconds: float
    accepted: list[Accepted] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds, of every answer read

    @property
    def duration(self) -> float:
        return self.finished_at - self.started_at

    @property
    def accepted_per_s(self) -> float:
        return len(self.accepted) / self.duration if self.duration > 0 else 0.0


def send_webhooks(
    url: str, *, total: int, concurrency: int, rate: float | None = None, duration: float | None = None
) -> LoadResult:
    """POST ``total`` empty webhooks to ``url``; as fast as they are accepted, or ``rate`` per second;
    stop sending after ``duration`` seconds if given."""
    parts = urlsplit(url)
    numbers = itertools.count()
    lock = threading.Lock()
    result = LoadResult(total, concurrency, time.time(), 0.0, 0.0)
    cpu_before = time.process_time()
    start = time.monotonic()

    def sender() -> None:
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        while True:
            with lock:
                number = next(numbers)
            if number >= total or (duration is not None and time.monotonic() - start > duration):
                break
            if rate:  # request n leaves at start + n/rate, whichever thread sends it
                time.sleep(max(0.0, start + number / rate - time.monotonic()))
            sent = time.monotonic()
            outcome = _post(connection, parts.path)
            with lock:
                result.latencies.append(time.monotonic() - sent)
                result.statuses[outcome[0]] += 1
                if outcome[1] is not None:
                    result.accepted.append(outcome[1])
            if not outcome[0].isdigit():
                connection.close()  # start afresh after any error
        connection.close()

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.finished_at = time.time()
    # All of this process's threads: the senders, plus an idle main thread.
    result.cpu_seconds = time.process_time() - cpu_before
    return result


# The server closed a kept-alive connection before reading the request: nothing was received, so the
# request is sent again on a new connection (gunicorn closes idle connections after 2 s).
_STALE_CONNECTION = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


def _post(connection: http.client.HTTPConnection, path: str) -> tuple[str, Accepted | None]:
    for tries_left in (1, 0):
        sent_at = time.time()
        try:
            # No body and no Content-Type: the trigger has no payload schema, so it must be empty.
            connection.request("POST", path, body=b"", headers={"Content-Length": "0"})
            response = connection.getresponse()
            body = response.read()
            break
        except _STALE_CONNECTION as exc:
            connection.close()
            if not tries_left:
                return type(exc).__name__, None
        except (OSError, http.client.HTTPException) as exc:
            return type(exc).__name__, None
    if response.status != 202:
        return str(response.status), None
    return "202", Accepted(json.loads(body)["run_id"], sent_at, time.time())
