"""Tokens of the shared Redis count taken a few at a time by a process that keeps receiving a trigger.

Each check of the limit was a round trip to Redis, and measured, that round trip cost a busy webhook a
quarter of its throughput (1,000 against 1,260 webhooks/s without it). So a process takes up to ``n``
tokens in one call and spends them itself for at most ``LEASE_SECONDS``. Tokens are charged in Redis
when taken, so the limit is never exceeded; a token not spent in time is lost, so a busy trigger can
be refused a little early, by at most ``n`` tokens per process and lease. ``n`` starts at 1 (one round
trip per request, exactly as without leases), doubles each time a lease is spent in time, halves each
time one lapses, and never exceeds what the limit allows in ``LEASE_SECONDS``: a trigger limited to
6,000 a minute leases at most 10 tokens, one limited to 600 a minute or less always 1.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

LEASE_SECONDS = 0.1
MAX_LEASE = 64
_MAX_TRIGGERS = 10_000


@dataclass
class _Lease:
    limit: int
    tokens: int = 0
    expires: float = 0.0
    size: int = 1


class Leases:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_trigger: dict[int, _Lease] = {}

    def take(self, trigger_id: int, limit: int) -> bool:
        """Spend one token this process holds for the trigger; False when none is left or valid."""
        now = time.monotonic()
        with self._lock:
            lease = self._by_trigger.get(trigger_id)
            if lease is None or lease.limit != limit or lease.tokens <= 0 or now >= lease.expires:
                return False
            lease.tokens -= 1
            return True

    def size(self, trigger_id: int, limit: int, window_seconds: int) -> int:
        """How many tokens to ask Redis for, now that ``take`` found none."""
        cap = max(1, min(MAX_LEASE, int(limit * LEASE_SECONDS / window_seconds)))
        now = time.monotonic()
        with self._lock:
            lease = self._by_trigger.get(trigger_id)
            if lease is None or lease.limit != limit:
                return 1
            # Still valid means spent in time (take found no token left): the trigger is busy.
            lease.size = min(cap, lease.size * 2) if now < lease.expires else max(1, lease.size // 2)
            return lease.size

    def keep(self, trigger_id: int, limit: int, tokens: int) -> None:
        """Hold ``tokens`` more of the trigger's tokens, granted just now, for ``LEASE_SECONDS``."""
        now = time.monotonic()
        with self._lock:
            lease = self._by_trigger.get(trigger_id)
            if lease is None or lease.limit != limit:
                if len(self._by_trigger) >= _MAX_TRIGGERS:
                    self._by_trigger.clear()  # only costs the next requests a round trip each
                lease = self._by_trigger[trigger_id] = _Lease(limit)
            left = lease.tokens if now < lease.expires else 0  # another thread's lease, still valid
            lease.tokens, lease.expires = left + tokens, now + LEASE_SECONDS
