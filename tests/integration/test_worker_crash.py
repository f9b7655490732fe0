"""A worker that dies mid-step (OOM killer, lost machine) must not lose the run: the sweeper sees the
expired lease and another worker runs the unfinished step again."""

from __future__ import annotations

import signal
import threading

import pytest
import requests
from rest_framework.test import APIClient

from tests.integration.flow import post_webhook, run_detail, wait_for_finished_run
from tests.integration.processes import CeleryCluster
from tests.support.builders import create_workflow, http_step
from tests.support.receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_run_survives_a_worker_killed_in_the_middle_of_a_step(
    alice_api: APIClient,
    receiver: Receiver,
    workers: CeleryCluster,
    public_base_url: str,
    http: requests.Session,
) -> None:
    # A short step timeout keeps the lease (timeout + grace) short, so the takeover comes quickly.
    workflow = create_workflow(alice_api, steps=[http_step(f"{receiver.url}/notify", timeout=2)])
    # Hold the step's request open, so that the worker is certainly inside the step when it dies.
    receiver.gate = gate = threading.Event()

    response = post_webhook(http, workflow["trigger"]["webhook_url"])
    assert response.status_code == 202, response.text
    run_id = response.json()["run_id"]
    assert receiver.wait_for(1), "the step's request never reached the receiver"

    workers.kill_worker(signal.SIGKILL)
    gate.set()  # the held request is answered to a dead socket; later ones go straight through
    stranded = run_detail(alice_api, run_id)
    assert stranded["status"] == "running", stranded  # nothing is alive to finish or take it over
    assert stranded["step_results"][0]["status"] == "running"
    workers.start_worker()

    run = wait_for_finished_run(alice_api, run_id)
    assert run["status"] == "succeeded", run
    [result] = run["step_results"]
    assert result["status"] == "succeeded"
    assert result["attempts"] >= 2
    assert result["output"]["status"] == 200
    # At-least-once: the receiver saw the step the dead worker started, and the retry.
    assert len(receiver.requests) >= 2
