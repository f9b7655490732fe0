"""The rate limiter on its own: the in-process counter `make run` uses, and failing open when the
Redis it is told to use is unreachable or hangs. Redis-backed counting is in
tests/integration/test_rate_limit_redis.py."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from triggers import rate_limit
from triggers.models import WebhookTrigger
from triggers.rate_limit import Refusal, rate_limit_check, rate_limit_validate, trigger_rate_limit


@pytest.fixture(autouse=True)
def _fresh_limiter() -> Iterator[None]:
    # Before and after: SQLite reuses ids between tests, and a small limit left behind would refuse
    # another test's requests.
    rate_limit.rate_limit_reset()
    yield
    rate_limit.rate_limit_reset()


def checks(n: int, *, trigger_id: int = 1, limit: int, window_seconds: int = 60) -> list[Refusal | None]:
    return [
        rate_limit_check(trigger_id=trigger_id, limit=limit, window_seconds=window_seconds) for _ in range(n)
    ]


def test_without_redis_configured_the_limit_is_counted_in_this_process(settings: Any) -> None:
    assert settings.RATE_LIMIT_REDIS_URL == ""  # the test settings use the filesystem broker
    results = checks(6, limit=5)
    assert results[:5] == [None] * 5
    refusal = results[5]
    assert refusal is not None
    # 5 a minute is one every 12 s: the next one may pass 12 s from now.
    assert (refusal.limit, refusal.window_seconds) == (5, 60)
    assert 11 <= refusal.retry_after <= 12


def test_the_budget_comes_back_at_the_steady_rate() -> None:
    assert checks(3, limit=2, window_seconds=2)[2] is not None
    time.sleep(1.1)  # one request's worth of 2 every 2 s has come back, not two
    assert checks(1, limit=2, window_seconds=2) == [None]
    assert checks(1, limit=2, window_seconds=2)[0] is not None


def test_triggers_are_counted_apart() -> None:
    assert checks(2, trigger_id=1, limit=1)[1] is not None
    assert checks(1, trigger_id=2, limit=1) == [None]


def test_zero_is_unlimited() -> None:
    assert checks(1000, limit=0) == [None] * 1000


def test_only_the_first_refusal_of_a_window_is_reported_with_the_count_since_the_last_report() -> None:
    assert checks(1, limit=1, window_seconds=1) == [None]
    first = checks(3, limit=1, window_seconds=1)
    assert [r.report if r else None for r in first] == [1, 0, 0]
    time.sleep(1.1)  # a new window, and the bucket has room for one again
    assert checks(1, limit=1, window_seconds=1) == [None]
    [again] = checks(1, limit=1, window_seconds=1)
    assert again is not None
    assert again.report == 3  # the two counted quietly before, and this one


def test_a_trigger_uses_its_own_limit_else_the_default(settings: Any) -> None:
    settings.WEBHOOK_RATE_LIMIT_PER_MINUTE = 1234
    assert trigger_rate_limit(trigger=WebhookTrigger(rate_limit_per_minute=None)) == 1234
    assert trigger_rate_limit(trigger=WebhookTrigger(rate_limit_per_minute=50)) == 50
    assert trigger_rate_limit(trigger=WebhookTrigger(rate_limit_per_minute=0)) == 0


@pytest.mark.parametrize("value", [None, 0, 1, 60, rate_limit.MAX_RATE_LIMIT_PER_MINUTE])
def test_valid_limits(value: object) -> None:
    assert rate_limit_validate(value) is None


@pytest.mark.parametrize(
    "value", [-1, rate_limit.MAX_RATE_LIMIT_PER_MINUTE + 1, 1.5, "60", True, [], {"per_minute": 5}]
)
def test_invalid_limits_say_what_is_allowed(value: object) -> None:
    message = rate_limit_validate(value)
    assert message is not None
    assert "0 for no limit" in message


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: connecting is refused


def test_an_unreachable_redis_lets_every_request_through_and_warns_once(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.RATE_LIMIT_REDIS_URL = f"redis://127.0.0.1:{_closed_port()}/0"
    with caplog.at_level(logging.WARNING, logger="triggers.rate_limit"):
        assert checks(50, limit=1) == [None] * 50
    warnings = [r for r in caplog.records if r.name == "triggers.rate_limit"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "rate limiter unavailable" in warnings[0].getMessage()


class SilentServer:
    """A TCP server that accepts connections and never answers: a hung Redis."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.sock.getsockname()[1]}/0"

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(connection)

    def close(self) -> None:
        self.sock.close()
        for connection in self.connections:
            connection.close()


def test_a_hung_redis_is_waited_for_once_then_left_alone(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = SilentServer()
    settings.RATE_LIMIT_REDIS_URL = server.url
    try:
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="triggers.rate_limit"):
            assert checks(20, limit=1) == [None] * 20
        print(f"20 checks against a hung Redis took {time.monotonic() - started:.2f} s")
        # Only the first check waited on it; the others passed without trying during the back-off.
        assert len(server.connections) == 1
        assert len([r for r in caplog.records if r.name == "triggers.rate_limit"]) == 1
    finally:
        server.close()
