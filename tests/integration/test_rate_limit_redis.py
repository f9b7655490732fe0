"""The rate limit counted in a real Redis (the tier's private redis-server): one count for every web
process, exact under concurrency, keys that expire, and webhooks accepted while Redis is down.
"""

from __future__ import annotations

import logging
import math
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from rest_framework.test import APIClient

from tests.integration.processes import REPO, RedisServer, wait_until
from tests.support.builders import create_workflow
from triggers import rate_limit, rate_limit_leases
from triggers.rate_limit import Refusal, rate_limit_check


@pytest.fixture(autouse=True)
def _limiter_on_redis(redis_server: RedisServer, settings: Any) -> Iterator[str]:
    redis_server.start()  # an earlier test may have stopped it
    settings.RATE_LIMIT_REDIS_URL = redis_server.url
    rate_limit.rate_limit_reset()
    yield redis_server.url
    rate_limit.rate_limit_reset()


def a_trigger_id() -> int:
    # The session's Redis outlives each test; ids no test database will reach keep counts apart.
    return random.randrange(10**12, 10**13)


def check_in_another_process(url: str, trigger_id: int, limit: int, tmp_path: Path) -> str:
    """One check from a separate Python process, as another web process would make it."""
    code = (
        "import django; django.setup()\n"
        "from triggers.rate_limit import rate_limit_check\n"
        f"print(rate_limit_check(trigger_id={trigger_id}, limit={limit}, window_seconds=60))\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "orchestrator.settings",
        "RATE_LIMIT_REDIS_URL": url,
        "ORCHESTRATOR_VAR_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_every_process_shares_one_count_in_redis(_limiter_on_redis: str, tmp_path: Path) -> None:
    trigger_id = a_trigger_id()
    results = [rate_limit_check(trigger_id=trigger_id, limit=3, window_seconds=60) for _ in range(3)]
    assert results == [None, None, None]

    elsewhere = check_in_another_process(_limiter_on_redis, trigger_id, 3, tmp_path)
    other_trigger = check_in_another_process(_limiter_on_redis, trigger_id + 1, 3, tmp_path)

    assert elsewhere.startswith("Refusal(retry_after="), elsewhere
    assert other_trigger == "None"


def test_exactly_the_limit_passes_among_many_concurrent_requests() -> None:
    trigger_id = a_trigger_id()

    def check(_: int) -> Refusal | None:
        # An hour's window: the budget cannot refill while the test runs, however slow the machine.
        return rate_limit_check(trigger_id=trigger_id, limit=50, window_seconds=3600)

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(check, range(400)))

    assert sum(result is None for result in results) == 50
    refusals = [r for r in results if r is not None]
    assert sum(r.report > 0 for r in refusals) == 1  # logged once, not 350 times


def test_the_counts_expire_so_redis_holds_nothing_for_idle_triggers(_limiter_on_redis: str) -> None:
    trigger_id = a_trigger_id()
    for _ in range(3):
        rate_limit_check(trigger_id=trigger_id, limit=2, window_seconds=60)

    client = redis.Redis.from_url(_limiter_on_redis, decode_responses=True)
    keys = [str(key) for key in client.keys(f"{rate_limit.KEY_PREFIX}:{{{trigger_id}}}:*")]
    assert len(keys) >= 2  # the bucket, and the refusal's "reported" marker
    ttls = {key: client.pttl(key) for key in keys}
    # A TTL on every key: -1 would mean kept forever.
    assert all(ttl > 0 for ttl in ttls.values()), ttls
    client.close()


def test_webhooks_pass_while_redis_is_down_and_are_limited_again_after(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    trigger_id = a_trigger_id()

    def check() -> Refusal | None:
        return rate_limit_check(trigger_id=trigger_id, limit=1, window_seconds=60)

    assert check() is None
    assert check() is not None
    redis_server.stop()
    try:
        with caplog.at_level(logging.WARNING, logger="triggers.rate_limit"):
            during_outage = [check() for _ in range(20)]
        assert during_outage == [None] * 20  # fail open: an outage of the limiter drops nothing
        warnings = [r.getMessage() for r in caplog.records if r.name == "triggers.rate_limit"]
        assert len(warnings) == 1, warnings
    finally:
        redis_server.start()
    # The restarted Redis has neither the counts nor the script: after the back-off, counting starts
    # afresh and the script is loaded again.
    refusal = wait_until(check, timeout=rate_limit.OUTAGE_BACKOFF_SECONDS + 30, what="limiting to resume")
    assert refusal.retry_after >= 1


@pytest.mark.django_db(transaction=True)
def test_the_webhook_answers_429_from_the_count_in_redis(
    alice_api: APIClient, public_base_url: str, http: requests.Session, redis_server: RedisServer
) -> None:
    workflow = create_workflow(alice_api, steps=[])
    trigger_url = f"/api/workflows/{workflow['id']}/trigger/"
    assert alice_api.patch(trigger_url, {"rate_limit_per_minute": 2}, format="json").status_code == 200
    webhook_url = workflow["trigger"]["webhook_url"]

    answers = [http.post(webhook_url, timeout=30) for _ in range(3)]

    assert [a.status_code for a in answers] == [202, 202, 429]
    assert answers[2].json()["error"] == "rate_limited"
    assert answers[2].headers["Retry-After"] == str(answers[2].json()["retry_after"])
    # Counted in Redis: the trigger's bucket is there.
    client = redis.Redis.from_url(redis_server.url)
    assert client.exists(f"{rate_limit.KEY_PREFIX}:{{{workflow['trigger']['id']}}}:tat") == 1
    client.close()


def _script_calls(client: redis.Redis) -> int:
    stats: dict[str, Any] = client.info("commandstats")
    return sum(int(stats.get(name, {}).get("calls", 0)) for name in ("cmdstat_evalsha", "cmdstat_eval"))


def test_a_busy_trigger_takes_its_tokens_a_few_per_round_trip(_limiter_on_redis: str) -> None:
    # 60,000 a minute: up to 100 tokens a lease by the limit, capped at MAX_LEASE (64).
    trigger_id = a_trigger_id()
    client = redis.Redis.from_url(_limiter_on_redis)
    before = _script_calls(client)
    results = [rate_limit_check(trigger_id=trigger_id, limit=60_000, window_seconds=60) for _ in range(2_000)]
    round_trips = _script_calls(client) - before
    client.close()
    assert results == [None] * 2_000
    assert round_trips < 200, f"{round_trips} round trips for 2,000 requests"


def test_leased_tokens_never_let_more_than_the_limit_through() -> None:
    # 60,000 a minute (leases of up to 64): the burst of 60,000 taken by 16 threads and then some.
    # GCRA refills 1,000 a second meanwhile, so the bound counts the seconds the test took.
    trigger_id = a_trigger_id()

    def check(_: int) -> Refusal | None:
        return rate_limit_check(trigger_id=trigger_id, limit=60_000, window_seconds=60)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(check, range(70_000), chunksize=100))
    refilled = math.ceil((time.monotonic() - started) * 1_000)
    passed = sum(result is None for result in results)
    assert passed <= 60_000 + refilled, (passed, refilled)
    # Tokens lost: at most a lease per thread and round trip that raced another for the same trigger.
    assert passed >= 60_000 - 16 * rate_limit_leases.MAX_LEASE, (passed, refilled)


def test_a_quiet_trigger_asks_redis_every_time(_limiter_on_redis: str) -> None:
    # 600 a minute allows no more than one token per lease: exact, one round trip per request.
    trigger_id = a_trigger_id()
    client = redis.Redis.from_url(_limiter_on_redis)
    before = _script_calls(client)
    for _ in range(20):
        rate_limit_check(trigger_id=trigger_id, limit=600, window_seconds=60)
    assert _script_calls(client) - before == 20
    client.close()
