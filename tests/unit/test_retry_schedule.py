"""The retry policy: what is retried, when, and until when. Clock and dice are passed in: no sleeping."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from actions.registry import ConfigError
from actions.retry import RetryPolicy, parse_retry_after, policy_config, validate_policy

POLICY = RetryPolicy()
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 599])
def test_throttling_and_server_errors_are_retried(status: int) -> None:
    assert POLICY.should_retry(1, status=status)


@pytest.mark.parametrize("status", [200, 201, 301, 400, 401, 403, 404, 408, 409, 410, 422])
def test_success_redirects_and_client_errors_are_final(status: int) -> None:
    assert not POLICY.should_retry(1, status=status)


def test_retryable_errors_are_retried_and_others_are_not() -> None:
    assert POLICY.should_retry(1, retryable_error=True)  # connection refused, timeout
    assert not POLICY.should_retry(1, retryable_error=False)  # refused by the SSRF guard, bad URL
    assert not POLICY.should_retry(1)


def test_a_hand_built_policy_cannot_make_410_retryable() -> None:
    assert not RetryPolicy(retry_on_statuses=frozenset({410, 503})).should_retry(1, status=410)


def test_attempts_stop_at_the_maximum_counting_the_first() -> None:
    assert [POLICY.should_retry(n, status=503) for n in range(1, 8)] == [True] * 5 + [False] * 2


def test_no_retry_once_the_total_time_is_spent() -> None:
    policy = RetryPolicy(max_total_seconds=3600)
    assert policy.should_retry(2, status=503, elapsed=3599)
    assert not policy.should_retry(2, status=503, elapsed=3600)


def test_delays_follow_the_schedule_within_the_jitter_and_the_last_step_repeats() -> None:
    rng = random.Random(7)
    for attempt, base in [(1, 5), (2, 30), (3, 120), (4, 600), (5, 3600), (6, 3600), (40, 3600)]:
        delay = POLICY.next_delay(attempt, rng=rng)
        assert base * 0.8 <= delay <= base * 1.2


def test_the_same_seed_gives_the_same_delays_and_different_seeds_spread_them() -> None:
    def delays(seed: int) -> list[float]:
        rng = random.Random(seed)
        return [POLICY.next_delay(n, rng=rng) for n in range(1, 6)]

    assert delays(1) == delays(1)
    assert len({round(delays(seed)[0], 6) for seed in range(20)}) > 10


def test_no_jitter_gives_the_schedule_exactly() -> None:
    policy = RetryPolicy(schedule=(1, 2), jitter=0)
    assert [policy.next_delay(n, rng=random.Random(0)) for n in (1, 2, 3)] == [1, 2, 2]


@pytest.mark.parametrize(
    ("header", "delay"),
    [("120", 120), ("0", 1), ("86400", 3600), ("99999999999999999999", 3600), (" 30 ", 30)],
)
def test_retry_after_seconds_replace_the_schedule_within_bounds(header: str, delay: float) -> None:
    assert POLICY.next_delay(1, retry_after=header, rng=random.Random(0), now=NOW) == delay


def test_retry_after_as_an_http_date_counts_from_now() -> None:
    in_ten_minutes = format_datetime(datetime.fromtimestamp(NOW + 600, UTC), usegmt=True)
    assert POLICY.next_delay(1, retry_after=in_ten_minutes, now=NOW) == 600
    long_ago = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert POLICY.next_delay(1, retry_after=long_ago, now=NOW) == 1


@pytest.mark.parametrize("header", [None, "", "soon", "-5", "1.5", "Thu, 99 Foo 2026"])
def test_an_unreadable_retry_after_is_ignored(header: str | None) -> None:
    assert parse_retry_after(header, now=NOW) is None
    assert 4 <= POLICY.next_delay(1, retry_after=header, rng=random.Random(0), now=NOW) <= 6


def test_a_policy_can_cap_retry_after_lower_than_an_hour() -> None:
    assert RetryPolicy(max_retry_after=60).next_delay(1, retry_after="600") == 60


def test_plan_gives_up_when_the_next_attempt_would_start_too_late() -> None:
    policy = RetryPolicy(schedule=(100,), jitter=0, max_total_seconds=1000)
    assert policy.plan(1, status=503, elapsed=850) == 100
    assert policy.plan(1, status=503, elapsed=950) is None
    assert policy.plan(1, status=404, elapsed=0) is None


def test_a_whole_delivery_timeline_with_time_travel() -> None:
    """A receiver that is down for a while: the attempts land on the schedule, then stop."""
    rng, elapsed, attempts = random.Random(3), 0.0, [0.0]
    while (delay := POLICY.plan(len(attempts), status=503, elapsed=elapsed, rng=rng)) is not None:
        elapsed += delay
        attempts.append(elapsed)
    assert len(attempts) == POLICY.max_attempts
    assert 0.8 * 4355 <= attempts[-1] <= 1.2 * 4355  # 5 + 30 + 120 + 600 + 3600 seconds


def test_a_missing_config_gives_the_defaults_and_a_config_round_trips() -> None:
    assert validate_policy(None) == POLICY
    assert validate_policy(policy_config(POLICY)) == POLICY
    assert policy_config(POLICY)["retry_on_statuses"] == [429, "5xx"]
    custom = validate_policy({"max_attempts": 3, "retry_on_statuses": [503, 429], "schedule": [10, 60]})
    assert (custom.max_attempts, custom.retry_on_statuses, custom.schedule) == (3, {429, 503}, (10.0, 60.0))
    assert validate_policy(policy_config(custom)) == custom


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ([], {"retry": "must be an object"}),
        ({"max_attempts": 0}, {"retry.max_attempts": "must be a whole number from 1 to 20"}),
        ({"max_attempts": True}, {"retry.max_attempts": "must be a whole number from 1 to 20"}),
        ({"max_total_seconds": "1h"}, {"retry.max_total_seconds": "must be a number from 1 to 604800"}),
        ({"retry_on_statuses": [410, 503, "4xx"]}, {
            "retry.retry_on_statuses.0": 'must be 429, a status from 500 to 599, or "5xx"',
            "retry.retry_on_statuses.2": 'must be 429, a status from 500 to 599, or "5xx"',
        }),
        ({"schedule": []}, {"retry.schedule": "must be a list of 1 to 20 delays in seconds"}),
        ({"schedule": [5, 0.5, "x"]}, {
            "retry.schedule.1": "must be a number from 1 to 86400",
            "retry.schedule.2": "must be a number from 1 to 86400",
        }),
        ({"backoff": 2}, {"retry.backoff": "unknown field"}),
    ],
)  # fmt: skip
def test_an_invalid_policy_is_explained_field_by_field(config: object, expected: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as invalid:
        validate_policy(config)
    assert invalid.value.fields == expected
