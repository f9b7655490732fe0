"""The ledger under faults: a few thousand webhooks against the real stack while one piece of it is
broken, then every webhook is accounted for (the rules are in ledger.py).

Each test's ``inject`` runs in the main thread while the senders' threads keep the load steady, and
returns what it did; the harness then waits for everything accepted to finish, prints the ledger and
the test asserts it is clean, and that the fault really hit.
"""

from __future__ import annotations

import os
import random
import signal
import time
from typing import Any

from tests.faults.harness import Scenario, env_number
from tests.faults.load import Load

MIN_WORKER_KILLS = 4
REDIS_DOWN_SECONDS = env_number("FAULTS_REDIS_DOWN_SECONDS", 10)
PG_DOWN_SECONDS = env_number("FAULTS_PG_DOWN_SECONDS", 3)
# fast: what `pg_ctl restart` does; immediate: like a crash, with recovery on start.
PG_STOP_MODE = os.environ.get("FAULTS_PG_STOP_MODE", "fast")
PG_RESTART_AT = (0.3, 0.65)  # fractions of the webhooks sent
# The 2nd, 10th, 18th... web kill takes gunicorn's master down with its workers. Rarely: gunicorn takes
# seconds to come back on two busy cores, and every request meanwhile is refused, which shows nothing new.
WEB_MASTER_KILL_EVERY = 8


def test_worker_sigkill(scenario: Scenario) -> None:
    """A Celery worker's process group SIGKILLed every few seconds and restarted at once: runs in
    flight are taken over when their lease expires (the step sent again with the same key), and
    messages the dead worker had prefetched are re-sent by the sweeper. Nothing is lost, nothing
    runs twice."""
    stack = scenario.stack

    def inject(load: Load) -> dict[str, Any]:
        kills = 0
        while not load.done or kills < MIN_WORKER_KILLS:
            time.sleep(random.uniform(2.0, 4.0))
            worker = stack.workers[kills % len(stack.workers)]
            stack.kill_worker(worker)
            kills += 1
            scenario.say(load, f"SIGKILLed {worker.name}'s process group (kill {kills}); restarting it")
            stack.start_worker(worker)
        return {"worker_kills": kills}

    ledger = scenario.run(inject)

    assert ledger.ok, ledger.report()
    # The kills must have hit runs in flight, or this test showed nothing.
    assert ledger.taken_over > 0, f"no run was taken over after the kills:\n{ledger.report()}"


def test_redis_outage(scenario: Scenario) -> None:
    """The broker SIGKILLed mid-load, losing every queued message (no persistence), and started
    again ~10 s later: webhooks are still answered (202: the run is in PostgreSQL; or a clear 503),
    and the sweeper re-sends every run whose message was lost or never sent."""
    stack = scenario.stack
    redis = stack.redis
    assert redis is not None

    def inject(load: Load) -> dict[str, Any]:
        load.wait_sent(0.25)
        down_at = load.now()
        redis.stop()
        scenario.say(load, "redis-server SIGKILLed")
        assert not redis.ping(), "Redis still answers after being stopped"
        time.sleep(REDIS_DOWN_SECONDS)
        up_at = load.now()
        redis.start()
        scenario.say(load, f"redis-server started again after {up_at - down_at:.1f} s")
        load.join()
        return {"redis_down_s": round(up_at - down_at, 1), **_during(load, [(down_at, up_at)])}

    ledger = scenario.run(inject)

    assert ledger.ok, ledger.report()
    assert _sent_during(ledger.fault) > 0, "no webhook was sent while Redis was down"
    if ledger.fault.get("while_down_accepted"):
        # Accepted while Redis was down, so never published: only the sweeper can have started them.
        assert ledger.resent_by_sweeper > 0, ledger.report()


def test_postgres_restart(scenario: Scenario) -> None:
    """The database restarted twice mid-load: requests during each outage get a clear 503 with
    Retry-After and store nothing; runs cut off in the worker are taken over; nothing is
    half-stored."""
    stack = scenario.stack
    postgres = stack.postgres
    assert postgres is not None
    starts_before = postgres.starts

    def inject(load: Load) -> dict[str, Any]:
        windows: list[tuple[float, float]] = []
        for fraction in PG_RESTART_AT:
            load.wait_sent(fraction)
            down_at = load.now()
            postgres.stop(PG_STOP_MODE)
            scenario.say(load, f"PostgreSQL stopped ({PG_STOP_MODE})")
            time.sleep(PG_DOWN_SECONDS)
            postgres.start()
            windows.append((down_at, load.now()))
            scenario.say(load, f"PostgreSQL started again after {windows[-1][1] - down_at:.1f} s")
        load.join()
        return {
            "pg_restarts": len(windows),
            "pg_stop_mode": PG_STOP_MODE,
            "pg_down_s": round(sum(end - start for start, end in windows), 1),
            **_during(load, windows),
        }

    ledger = scenario.run(inject)

    assert ledger.ok, ledger.report()
    assert postgres.starts == starts_before + len(PG_RESTART_AT)
    assert _sent_during(ledger.fault) > 0, "no webhook was sent while PostgreSQL was down"


def test_web_sigkill(scenario: Scenario) -> None:
    """gunicorn's workers SIGKILLed mid-load every second or two, and every few kills its master with
    them (then started again): a request cut off either committed its delivery with its run (which
    then completes) or stored nothing; its sender sees a connection error, counted as not accepted."""
    stack = scenario.stack

    def inject(load: Load) -> dict[str, Any]:
        worker_kills = master_kills = 0
        while not load.done or master_kills == 0:
            time.sleep(random.uniform(1.0, 2.5))
            if (worker_kills + master_kills) % WEB_MASTER_KILL_EVERY == 1:
                stack.kill_web()
                master_kills += 1
                scenario.say(load, "SIGKILLed gunicorn's master and workers; restarting it")
                stack.start_web()
                continue
            pids = stack.web_worker_pids()
            if pids:
                os.kill(random.choice(pids), signal.SIGKILL)
                worker_kills += 1
                scenario.say(load, "SIGKILLed a gunicorn worker")
        return {"web_worker_kills": worker_kills, "web_master_kills": master_kills}

    ledger = scenario.run(inject)

    assert ledger.ok, ledger.report()
    assert ledger.fault["web_worker_kills"] > 0, "no gunicorn worker was killed"
    assert ledger.connection_errors > 0, "no request was cut off: the kills hit nothing"


def _during(load: Load, windows: list[tuple[float, float]]) -> dict[str, Any]:
    """The requests sent while a fault was on: how many of each kind, and how long answers took."""
    counts: dict[str, Any] = {}
    waited: list[float] = []
    for outcome in load.outcomes.values():
        if any(start <= outcome.sent_at <= end for start, end in windows):
            counts[f"while_down_{outcome.kind}"] = counts.get(f"while_down_{outcome.kind}", 0) + 1
            if outcome.status is not None:
                waited.append(outcome.done_at - outcome.sent_at)
    if waited:
        waited.sort()
        counts["while_down_answer_ms_p50"] = round(waited[len(waited) // 2] * 1000)
        counts["while_down_answer_ms_max"] = round(waited[-1] * 1000)
    return counts


def _sent_during(fault: dict[str, Any]) -> int:
    return sum(
        count for kind, count in fault.items() if kind.startswith("while_down_") and "_ms_" not in kind
    )
