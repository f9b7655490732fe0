"""Per-trigger rate limit of the webhook receive path: too many requests are answered 429 with
``Retry-After`` before the body is read.

**Algorithm: GCRA** (the generic cell rate algorithm: a token bucket kept as one timestamp per trigger,
its "theoretical arrival time"). A limit of N a minute lets a burst of N through at once, then one every
60/N seconds. It was chosen over a fixed window (INCR + EXPIRE), which lets 2N through across a window
boundary and then refuses everything until the window ends, and over a sliding log, which stores every
request. GCRA's ``Retry-After`` is exact: the time until one more request would pass.

**Where it counts.** With ``RATE_LIMIT_REDIS_URL`` set (by default the Celery broker's Redis), in Redis:
one Lua script per request, so one round trip, atomic across every web process, and timed by Redis's
own clock (``TIME``), so web hosts whose clocks disagree still share one limit. A process that keeps
receiving one trigger takes several tokens per round trip (triggers/rate_limit_leases.py). Without it
(`make run`: SQLite and the filesystem broker), each process counts in its own memory, so N processes
accept up to N times the limit.

**An outage of the limiter never drops a webhook.** If Redis fails or is slower than
``REDIS_TIMEOUT_SECONDS``, the request is accepted (fail open), Redis is left alone for
``OUTAGE_BACKOFF_SECONDS`` so that no request waits on it meanwhile, and a warning is logged at most
once every ``OUTAGE_LOG_INTERVAL_SECONDS`` per process.

**A flood does not flood the logs.** Refusals are counted per trigger; the first refusal of each window
is flagged (``Refusal.report``, with the number refused since the previous flagged one) so the caller
logs and records that one only.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.retry import Retry

from triggers.rate_limit_leases import Leases

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60
# Far above what one process can accept (a few hundred a second), low enough to stay an integer rate.
MAX_RATE_LIMIT_PER_MINUTE = 1_000_000
KEY_PREFIX = "orchestrator:rate-limit"
# Redis answers in well under a millisecond on a healthy network; beyond this it counts as down.
REDIS_TIMEOUT_SECONDS = 0.5
OUTAGE_BACKOFF_SECONDS = 5.0
OUTAGE_LOG_INTERVAL_SECONDS = 60.0
# The count of refusals not yet reported is forgotten after a day without refusals.
REFUSED_COUNT_TTL_SECONDS = 24 * 3600
_LOCAL_MAX_ENTRIES = 10_000


class _HasRateLimit(Protocol):
    pk: Any
    public_id: str
    workflow_id: Any
    rate_limit_per_minute: int | None


@dataclass(frozen=True)
class Refusal:
    """A request over the limit. ``retry_after``: whole seconds, at least 1, until one more would pass.
    ``report``: 0 when this refusal is only counted; otherwise it is the first of its window, to be
    logged (and recorded), and ``report`` is the number refused since the previous reported one,
    this one included."""

    retry_after: int
    limit: int
    window_seconds: int
    report: int


# KEYS: the trigger's theoretical arrival time (µs), refusals not yet reported, "reported this window".
# ARGV: limit, window (µs), time to keep the refusal count (s), tokens wanted (triggers/
# rate_limit_leases.py). Returns {0, 0, tokens granted} when at least one may pass, else {microseconds
# until one more may pass, number to report (0: count only), 0}.
_GCRA = """
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local wanted = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local interval = window / limit
local granted = math.min(wanted, math.floor((now + window - tat) / interval))
if granted >= 1 then
  local next_tat = tat + granted * interval
  redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000))
  return {0, 0, granted}
end
local allow_at = tat + interval - window
local refused = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
local report = 0
if redis.call('SET', KEYS[3], '1', 'PX', math.ceil(window / 1000), 'NX') then
  report = refused
  redis.call('DEL', KEYS[2])
end
return {math.ceil(allow_at - now), report, 0}
"""


def trigger_rate_limit(*, trigger: _HasRateLimit) -> int:
    """Requests a minute the trigger accepts: its own setting, else the default; 0 is unlimited."""
    if trigger.rate_limit_per_minute is not None:
        return trigger.rate_limit_per_minute
    limit: int = settings.WEBHOOK_RATE_LIMIT_PER_MINUTE
    return limit


def trigger_rate_limit_check(*, trigger: _HasRateLimit, limit: int) -> Refusal | None:
    """None when the trigger may take one more request now, else the refusal (already logged if it
    is the first of its window). ``limit``: the trigger's, as trigger_rate_limit() gives it."""
    if limit == 0:
        return None
    refusal = rate_limit_check(trigger_id=trigger.pk, limit=limit, window_seconds=WINDOW_SECONDS)
    if refusal is not None and refusal.report:
        logger.warning(
            "webhook trigger %s (workflow %s) is over its limit of %s requests a minute: %s refused "
            "since the last report; further refusals this minute are counted, not logged",
            trigger.public_id,
            trigger.workflow_id,
            limit,
            refusal.report,
        )
    return refusal


def rate_limit_check(*, trigger_id: int, limit: int, window_seconds: int) -> Refusal | None:
    """Count one request of ``trigger_id`` against ``limit`` per ``window_seconds``: None when it may
    pass, else a ``Refusal``. Never raises: when Redis is unavailable the request passes."""
    if limit <= 0:
        return None
    url: str = settings.RATE_LIMIT_REDIS_URL
    if not url:
        return _local.check(trigger_id, limit, window_seconds)
    return _redis_check(url, trigger_id, limit, window_seconds)


def rate_limit_validate(value: object) -> str | None:
    """The API's check of ``rate_limit_per_minute``: None when valid, else what is wrong."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RATE_LIMIT_PER_MINUTE:
        return (
            f"must be a whole number of requests a minute from 1 to {MAX_RATE_LIMIT_PER_MINUTE}, "
            "0 for no limit, or null for the default"
        )
    return None


def rate_limit_reset() -> None:
    """Forget this process's counts, clients and outage state (tests: ids are reused between tests)."""
    global _local, _leases, _down_until, _next_outage_log
    _leases = Leases()
    with _clients_lock:
        for client, _ in _clients.values():
            client.close()
        _clients.clear()
    _local = _LocalLimiter()
    _down_until = _next_outage_log = 0.0


def _retry_after(microseconds: float) -> int:
    return max(1, math.ceil(microseconds / 1_000_000))


# --- Redis --------------------------------------------------------------------------------------------

_clients: dict[str, tuple[redis.Redis, Script]] = {}
_leases = Leases()
_clients_lock = threading.Lock()
_down_until = 0.0
_next_outage_log = 0.0


def _script(url: str) -> Script:
    """The script bound to one client, and so one connection pool, per process and URL (redis-py's
    pool is thread-safe and starts afresh in a forked child). It runs by SHA (EVALSHA), sending its
    text again only when Redis does not know it (after a restart)."""
    found = _clients.get(url)
    if found is None:
        with _clients_lock:
            found = _clients.get(url)
            if found is None:
                client = redis.Redis.from_url(
                    url,
                    socket_timeout=REDIS_TIMEOUT_SECONDS,
                    socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                    # One immediate retry on a broken connection (Redis restarted, an idle connection
                    # closed); none on a timeout, which would only double the wait.
                    retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
                    health_check_interval=30,
                )
                found = _clients[url] = (client, client.register_script(_GCRA))
    return found[1]


def _redis_check(url: str, trigger_id: int, limit: int, window_seconds: int) -> Refusal | None:
    global _down_until, _next_outage_log
    now = time.monotonic()
    if now < _down_until or _leases.take(trigger_id, limit):
        return None
    key = f"{KEY_PREFIX}:{{{trigger_id}}}"  # a hash tag: the three keys share a Redis Cluster slot
    wanted = _leases.size(trigger_id, limit, window_seconds)
    try:
        wait_us, report, granted = _script(url)(
            keys=[f"{key}:tat", f"{key}:refused", f"{key}:reported"],
            args=[limit, window_seconds * 1_000_000, REFUSED_COUNT_TTL_SECONDS, wanted],
        )
    except Exception as exc:  # any failure of the limiter: accept rather than drop a webhook
        _down_until = now + OUTAGE_BACKOFF_SECONDS
        if now >= _next_outage_log:
            _next_outage_log = now + OUTAGE_LOG_INTERVAL_SECONDS
            logger.warning(
                "rate limiter unavailable, accepting webhooks without a limit for now (next try in "
                "%.0f s, this warning at most every %.0f s): %s: %s",
                OUTAGE_BACKOFF_SECONDS,
                OUTAGE_LOG_INTERVAL_SECONDS,
                type(exc).__name__,
                exc,
            )
        return None
    if not wait_us:
        _leases.keep(trigger_id, limit, int(granted) - 1)  # one of them is this request's
        return None
    return Refusal(_retry_after(wait_us), limit, window_seconds, int(report))


# --- In-process fallback (no Redis configured) -----------------------------------------------------


class _LocalLimiter:
    """The same algorithm in this process's memory, on the monotonic clock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tat: dict[int, float] = {}
        self._refused: dict[int, int] = {}
        self._reported_until: dict[int, float] = {}

    def check(self, trigger_id: int, limit: int, window_seconds: int) -> Refusal | None:
        now = time.monotonic()
        with self._lock:
            tat = max(self._tat.get(trigger_id, now), now)
            next_tat = tat + window_seconds / limit
            allow_at = next_tat - window_seconds
            if allow_at <= now:
                if len(self._tat) >= _LOCAL_MAX_ENTRIES:
                    self._forget_idle(now)
                self._tat[trigger_id] = next_tat
                return None
            refused = self._refused.get(trigger_id, 0) + 1
            report = 0
            if self._reported_until.get(trigger_id, 0.0) <= now:
                self._reported_until[trigger_id] = now + window_seconds
                report, refused = refused, 0
            self._refused[trigger_id] = refused
        return Refusal(_retry_after((allow_at - now) * 1_000_000), limit, window_seconds, report)

    def _forget_idle(self, now: float) -> None:
        # A trigger whose bucket is full again has nothing worth remembering.
        for trigger_id in [t for t, tat in self._tat.items() if tat <= now]:
            del self._tat[trigger_id]
            self._refused.pop(trigger_id, None)
            self._reported_until.pop(trigger_id, None)


_local = _LocalLimiter()
