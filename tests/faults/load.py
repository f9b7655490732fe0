"""The senders: threads that POST numbered webhooks (``{"n": <number>}``), each exactly once, and note
what came back.

Every request goes on a new connection and is never retried. A request resent after a connection
error could be a second copy of one the server had already committed (a web worker killed after the
commit but before the answer), and the ledger must be able to tell every webhook apart: one number,
one request. Senders only send; the test's main thread injects the faults (see services.py on why
children are only ever started from the main thread).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

REQUEST_TIMEOUT_SECONDS = 30  # only keeps a hung server from hanging the suite; not a requirement


@dataclass
class Outcome:
    n: int
    sent_at: float  # seconds since the load started
    done_at: float
    status: int | None = None  # None: no HTTP answer at all
    error: str = ""  # the exception's class name when there was no answer
    run_id: int | None = None
    clear_503: bool = False  # a 503 that says why (service_unavailable) and when to retry
    body: str = ""  # kept for answers the ledger does not expect

    @property
    def kind(self) -> str:
        if self.status is None:
            return "connection_error"
        if 200 <= self.status < 300:
            return "accepted"
        if self.status == 503:
            return "unavailable"
        if self.status >= 500:
            return "server_error"
        return "other"


@dataclass
class Load:
    """``total`` webhooks to ``url`` from ``concurrency`` threads, request n leaving no earlier than
    start + n / ``rate`` (a steady load, so that the fault lands in the middle of it)."""

    url: str
    total: int
    concurrency: int
    rate: float
    outcomes: dict[int, Outcome] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0
    _next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Load:
        self.started = time.monotonic()
        self._threads = [
            threading.Thread(target=self._sender, name=f"sender-{i}", daemon=True)
            for i in range(self.concurrency)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def now(self) -> float:
        """Seconds since the load started, on the clock the outcomes use."""
        return time.monotonic() - self.started

    @property
    def done(self) -> bool:
        return not any(thread.is_alive() for thread in self._threads)

    @property
    def sent(self) -> int:
        with self._lock:
            return min(self._next, self.total)

    def wait_sent(self, fraction: float) -> None:
        """Until that fraction of the webhooks has been sent (or the load is over)."""
        while self.sent < fraction * self.total and not self.done:
            time.sleep(0.05)

    def join(self) -> None:
        for thread in self._threads:
            thread.join()
        # When the last answer came, not when the test got round to asking.
        self.finished = max((o.done_at for o in self.outcomes.values()), default=self.now())

    def _sender(self) -> None:
        parts = urlsplit(self.url)
        host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path
        while True:
            with self._lock:
                n = self._next
                self._next += 1
            if n >= self.total:
                return
            if self.rate > 0:
                time.sleep(max(0.0, n / self.rate - self.now()))
            outcome = _post(host, port, path, n, self.now)
            with self._lock:
                self.outcomes[n] = outcome


def _post(host: str, port: int, path: str, n: int, now: Callable[[], float]) -> Outcome:
    body = json.dumps({"n": n}).encode()
    headers = {"Content-Type": "application/json", "Connection": "close"}
    sent_at = now()
    connection = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT_SECONDS)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        retry_after = response.getheader("Retry-After")
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(n, sent_at, now(), error=type(exc).__name__)
    finally:
        connection.close()
    outcome = Outcome(n, sent_at, now(), status=response.status)
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = None
    if 200 <= response.status < 300 and isinstance(answer, dict) and isinstance(answer.get("run_id"), int):
        outcome.run_id = answer["run_id"]
    elif response.status == 503:
        outcome.clear_503 = (
            isinstance(answer, dict) and answer.get("error") == "service_unavailable" and bool(retry_after)
        )
    if outcome.run_id is None:
        outcome.body = raw[:300].decode("utf-8", errors="replace")
    return outcome
