"""Redis going away must cost nothing: webhooks are still accepted (the run is in PostgreSQL), and
once Redis is back the sweeper re-sends the run and the reconnected worker runs it."""

from __future__ import annotations

import time

import pytest
import requests
from rest_framework.test import APIClient

from tests.integration.flow import post_webhook, run_detail, wait_for_finished_run
from tests.integration.processes import WORKER_SETTINGS, CeleryCluster, RedisServer
from tests.support.builders import create_workflow, http_step
from tests.support.receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_webhook_is_accepted_while_redis_is_down_and_runs_once_it_is_back(
    alice_api: APIClient,
    receiver: Receiver,
    workers: CeleryCluster,
    redis_server: RedisServer,
    public_base_url: str,
    http: requests.Session,
) -> None:
    workflow = create_workflow(alice_api, steps=[http_step(f"{receiver.url}/notify")])
    redis_server.stop()

    # A bound, not a speed requirement: a publish that retried would hold the sender far longer.
    response = http.post(workflow["trigger"]["webhook_url"], timeout=15)

    assert response.status_code == 202, response.text
    run_id = response.json()["run_id"]
    assert run_detail(alice_api, run_id)["status"] == "queued"
    # Past the re-send delay and several sweeps: with no broker nothing can take the run, and
    # nothing may fail it either.
    time.sleep(float(WORKER_SETTINGS["RUN_REDISPATCH_AFTER_SECONDS"]) + 2)
    assert run_detail(alice_api, run_id)["status"] == "queued"
    assert receiver.requests == []

    redis_server.start()

    # The first message was lost with the broker: only the sweeper's re-send can start this run.
    run = wait_for_finished_run(alice_api, run_id)
    assert run["status"] == "succeeded", run
    assert len(receiver.requests) == 1

    # Everything has reconnected: a new call is accepted and run as usual.
    again = post_webhook(http, workflow["trigger"]["webhook_url"])
    assert again.status_code == 202, again.text
    assert wait_for_finished_run(alice_api, again.json()["run_id"])["status"] == "succeeded"
