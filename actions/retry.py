"""When a failed Send HTTP Request step is tried again.

Rules:
- Retried: a status in retry_on_statuses (default 429 and 500-599) and errors whose retryable flag is set
  (connection failures, timeouts). Never retried: 410 Gone and every other 4xx, refusals by the SSRF
  guard, bad URLs. Only 429 and 5xx can be configured as retryable.
- At most max_attempts attempts in all, the first included; no retry is planned to start later than
  max_total_seconds after the first attempt began.
- The wait after failed attempt n is schedule[n-1] (its last entry repeats), times a random factor in
  [1 - jitter, 1 + jitter], so that deliveries that failed together do not all come back together.
- A Retry-After header (delay-seconds or an HTTP-date) replaces the schedule, without jitter: the
  receiver named a moment. It is clamped to [1 s, max_retry_after] (at most one hour).
- Pure functions: the random generator and the clock are passed in, so tests never sleep.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from actions.registry import ConfigError

DEFAULT_SCHEDULE = (5.0, 30.0, 120.0, 600.0, 3600.0)
SERVER_ERRORS = frozenset(range(500, 600))
RETRYABLE_STATUSES = frozenset({429}) | SERVER_ERRORS
MIN_RETRY_AFTER = 1.0
MAX_RETRY_AFTER = 3600.0
LIMITS = {"max_attempts": (1, 20), "max_total_seconds": (1, 7 * 24 * 3600), "schedule": (1, 24 * 3600)}
MAX_SCHEDULE_STEPS = 20


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    max_total_seconds: float = 24 * 3600
    retry_on_statuses: frozenset[int] = RETRYABLE_STATUSES
    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    jitter: float = 0.2
    max_retry_after: float = MAX_RETRY_AFTER

    def should_retry(
        self,
        attempt_number: int,
        *,
        status: int | None = None,
        retryable_error: bool | None = None,
        elapsed: float = 0.0,
    ) -> bool:
        """attempt_number is the attempt that just failed (1 for the first); elapsed counts seconds
        since the first attempt began. Give a status for a response, retryable_error for an error."""
        if attempt_number >= self.max_attempts or elapsed >= self.max_total_seconds:
            return False
        if status is not None:
            # Checked against the fixed set too: a policy built by hand cannot make 410 retryable.
            return status in self.retry_on_statuses and status in RETRYABLE_STATUSES
        return bool(retryable_error)

    def next_delay(
        self,
        attempt_number: int,
        retry_after: str | None = None,
        rng: random.Random | None = None,
        now: float | None = None,
    ) -> float:
        """Seconds to wait after failed attempt attempt_number."""
        asked = parse_retry_after(retry_after, now=now)
        if asked is not None:
            return min(max(asked, MIN_RETRY_AFTER), self.max_retry_after)
        base = self.schedule[min(max(attempt_number, 1), len(self.schedule)) - 1]
        jitter = rng or random.Random()  # noqa: S311  (spreads retries; not a secret)
        return base * jitter.uniform(1 - self.jitter, 1 + self.jitter)

    def plan(
        self,
        attempt_number: int,
        *,
        status: int | None = None,
        retryable_error: bool | None = None,
        elapsed: float = 0.0,
        retry_after: str | None = None,
        rng: random.Random | None = None,
        now: float | None = None,
    ) -> float | None:
        """Seconds until the next attempt, or None to give up now (both rules above, in one call)."""
        if not self.should_retry(
            attempt_number, status=status, retryable_error=retryable_error, elapsed=elapsed
        ):
            return None
        delay = self.next_delay(attempt_number, retry_after, rng, now)
        return None if elapsed + delay > self.max_total_seconds else delay


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds a Retry-After header asks for (may be negative for a past date), None if unreadable."""
    if not value or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text) if len(text) <= 12 else float("inf")  # int() refuses huge digit strings
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    current = time.time() if now is None else now
    return moment.timestamp() - current  # a date without zone is UTC in Python's email parser


def _number_problem(value: Any, field: str, *, integer: bool = False) -> str | None:
    low, high = LIMITS[field]
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        return f"must be {'a whole number' if integer else 'a number'} from {low:g} to {high:g}"
    return None


def _statuses(value: Any, errors: dict[str, str]) -> frozenset[int]:
    if not isinstance(value, list):
        errors["retry_on_statuses"] = 'must be a list of statuses, such as [429, "5xx"]'
        return frozenset()
    found: set[int] = set()
    for index, item in enumerate(value):
        if item == "5xx":
            found |= SERVER_ERRORS
        elif isinstance(item, int) and not isinstance(item, bool) and item in RETRYABLE_STATUSES:
            found.add(item)
        else:
            errors[f"retry_on_statuses.{index}"] = 'must be 429, a status from 500 to 599, or "5xx"'
    return frozenset(found)


def _schedule(value: Any, errors: dict[str, str]) -> tuple[float, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_SCHEDULE_STEPS:
        errors["schedule"] = f"must be a list of 1 to {MAX_SCHEDULE_STEPS} delays in seconds"
        return ()
    for index, item in enumerate(value):
        if problem := _number_problem(item, "schedule"):
            errors[f"schedule.{index}"] = problem
    return tuple(float(item) for item in value if isinstance(item, int | float))


def validate_policy(config: Any, *, where: str = "retry") -> RetryPolicy:
    """A RetryPolicy from a step's JSON config (None means the defaults), or ConfigError keyed by path."""
    if config is None:
        return RetryPolicy()
    if not isinstance(config, dict):
        raise ConfigError({where: "must be an object"})
    errors = {field: "unknown field" for field in set(config) - {*LIMITS, "retry_on_statuses"}}
    defaults = RetryPolicy()
    attempts = config.get("max_attempts", defaults.max_attempts)
    total = config.get("max_total_seconds", defaults.max_total_seconds)
    for field, value in (("max_attempts", attempts), ("max_total_seconds", total)):
        if problem := _number_problem(value, field, integer=field == "max_attempts"):
            errors[field] = problem
    statuses = _statuses(config.get("retry_on_statuses", [429, "5xx"]), errors)
    schedule = _schedule(config.get("schedule", list(defaults.schedule)), errors)
    if errors:
        raise ConfigError({f"{where}.{field}": problem for field, problem in sorted(errors.items())})
    return RetryPolicy(
        max_attempts=attempts, max_total_seconds=float(total), retry_on_statuses=statuses, schedule=schedule
    )


def policy_config(policy: RetryPolicy) -> dict[str, Any]:
    """The JSON the API shows for a policy; validate_policy(policy_config(p)) == p."""
    statuses: list[int | str] = sorted(policy.retry_on_statuses - SERVER_ERRORS)
    if policy.retry_on_statuses >= SERVER_ERRORS:
        statuses.append("5xx")
    else:
        statuses += sorted(policy.retry_on_statuses & SERVER_ERRORS)
    return {
        "max_attempts": policy.max_attempts,
        "max_total_seconds": policy.max_total_seconds,
        "retry_on_statuses": statuses,
        "schedule": list(policy.schedule),
    }
