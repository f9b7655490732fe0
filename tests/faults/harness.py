"""One scenario: a workflow of its own, published through the REST API of the running gunicorn; the
load; the wait until everything accepted has finished; the ledger.

Knobs (environment):
- FAULTS_WEBHOOKS (2000): webhooks per scenario;
- FAULTS_RATE (40): webhooks sent per second at most, a steady load that the fault lands in the middle
  of (0: as fast as the server answers);
- FAULTS_SENDERS (16): concurrent senders;
- FAULTS_DRAIN_TIMEOUT (300): seconds to wait for every accepted run to finish after the load;
- FAULTS_LEDGER_FILE: append each ledger to this file as a JSON line.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from typing import Any

import psycopg

from bench.api import Api  # the bench's REST client: a token, the API over HTTP, errors raised
from tests.faults import ledger as ledgers
from tests.faults.load import Load
from tests.faults.processes import STEP_TIMEOUT_SECONDS, ServiceError
from tests.faults.services import Stack


def env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


WEBHOOKS = int(env_number("FAULTS_WEBHOOKS", 2000))
RATE = env_number("FAULTS_RATE", 40)
SENDERS = int(env_number("FAULTS_SENDERS", 16))
DRAIN_TIMEOUT = env_number("FAULTS_DRAIN_TIMEOUT", 300)


class Scenario:
    def __init__(self, stack: Stack, name: str) -> None:
        self.stack = stack
        self.name = name
        self.workflow_id = 0
        self.hook_url = ""
        self.began = time.monotonic()

    def publish(self) -> str:
        """A workflow whose payload is ``{"n": <number>}`` and whose one step POSTs to the receiver,
        with the run id and the webhook number in headers, so every request can be attributed."""
        api = Api(self.stack.web_url, self.stack.token)
        workflow = api.call("POST", "/workflows/", {"name": f"faults: {self.name}"})
        self.workflow_id = workflow["id"]
        path = f"/workflows/{self.workflow_id}"
        trigger = api.call("PUT", f"{path}/trigger/")
        api.call("PUT", f"{path}/trigger/schema/", {"kind": "sample", "samples": [{"n": 1}]})
        step = {
            "name": "notify receiver",
            "type": "http_request",
            "position": 0,
            "config": {
                "method": "POST",
                "url": f"{self.stack.receiver_url}/hook/{self.name}",
                "headers": {"X-Faults-Run": "{{ run.id }}", "X-Faults-N": "{{ trigger.body.n }}"},
                "body": {"run": "{{ run.id }}", "n": "{{ trigger.body.n }}"},
                "timeout": STEP_TIMEOUT_SECONDS,
            },
        }
        api.call("POST", f"{path}/steps/", step)
        api.call("POST", f"{path}/publish/")
        self.hook_url = trigger["webhook_url"]
        return self.hook_url

    def start_load(self) -> Load:
        if not self.hook_url:
            self.publish()
        print(
            f"\n[{self.name}] {WEBHOOKS} webhooks, {SENDERS} senders, "
            f"{f'{RATE:g}/s' if RATE > 0 else 'unpaced'}",
            flush=True,
        )
        return Load(self.hook_url, total=WEBHOOKS, concurrency=SENDERS, rate=RATE).start()

    def run(self, inject: Callable[[Load], dict[str, Any]]) -> ledgers.Ledger:
        """Start the load, let ``inject`` break things while it runs (it returns what it did, for the
        ledger), then finish. Should the injection itself fail (a service that will not come back),
        the ledger is still drawn up and printed, on a repaired stack, before the error is raised."""
        load = self.start_load()
        try:
            fault = inject(load)
        except Exception as exc:
            with contextlib.suppress(Exception):
                self.stack.ensure_running()
                self.finish(load, {"injection_failed": repr(exc)[:200]})
            raise
        return self.finish(load, fault)

    def say(self, load: Load, text: str) -> None:
        print(f"[{self.name}] t={load.now():6.1f}s sent={load.sent:5d}  {text}", flush=True)

    def finish(self, load: Load, fault: dict[str, Any]) -> ledgers.Ledger:
        """Wait for the senders, then for every accepted run to finish and the broker to fall
        quiet; read the ledger, print it (and append it to FAULTS_LEDGER_FILE)."""
        load.join()
        self.say(load, "load sent; waiting for every accepted run to finish")
        waited = load.now()
        drained = self._wait_finished()
        self._wait_broker_quiet()
        drain_s = load.now() - waited
        with self.stack.postgres_connection() as connection:
            records = self.stack.receiver_records(self.name)
            ledger = ledgers.build(self.name, load, connection, self.workflow_id, records)
        if not drained:
            ledger.problem("drain_timeout", f"runs still unfinished after {DRAIN_TIMEOUT:g} s")
        ledger.fault = fault
        ledger.seconds = {
            "load": load.finished,
            "after_fault": drain_s,
            "scenario": time.monotonic() - self.began,
        }
        ledger.publish()
        return ledger

    def _unfinished(self) -> int | None:
        try:
            with self.stack.postgres_connection() as connection:
                row = connection.execute(
                    "SELECT count(*) FROM workflows_run WHERE workflow_id = %s "
                    "AND status IN ('queued', 'running', 'waiting')",
                    (self.workflow_id,),
                ).fetchone()
        except psycopg.Error:
            return None
        return int(row[0]) if row else None

    def _wait_finished(self) -> bool:
        deadline = time.monotonic() + DRAIN_TIMEOUT
        last_report = 0.0
        while time.monotonic() < deadline:
            left = self._unfinished()
            if left == 0:
                return True
            if time.monotonic() - last_report > 10:
                print(f"[{self.name}] {left} runs unfinished", flush=True)
                last_report = time.monotonic()
            time.sleep(0.5)
        return False

    def _wait_broker_quiet(self, timeout: float = 60) -> None:
        """Until the broker's queue is empty (the sweeper's re-sends of runs that finished meanwhile
        included), so that any second execution they could cause has happened before the receiver
        is read. A queue that never empties is not an error here: the ledger says what happened."""
        assert self.stack.redis is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError, ServiceError):
                if self.stack.redis.queued_messages() == 0:
                    time.sleep(2)  # the last messages taken are being executed
                    return
            time.sleep(0.5)
