"""A user's whole path over real HTTP: build a workflow through the API, call its webhook, and watch a
real Celery worker run its step against a real HTTP server."""

from __future__ import annotations

import json

import pytest
import requests
from rest_framework.test import APIClient

from tests.integration.flow import post_webhook, wait_for_finished_run
from tests.integration.processes import CeleryCluster
from tests.support.builders import create_workflow, http_step
from tests.support.receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_webhook_call_runs_the_workflow_and_records_every_step(
    alice_api: APIClient,
    receiver: Receiver,
    workers: CeleryCluster,
    public_base_url: str,
    http: requests.Session,
) -> None:
    step = http_step(f"{receiver.url}/notify", body={"event": "deployed", "count": 3})
    workflow = create_workflow(alice_api, steps=[step])
    webhook_url = workflow["trigger"]["webhook_url"]
    assert webhook_url.startswith(f"{public_base_url}/hooks/")

    response = post_webhook(http, webhook_url)

    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "queued"
    run_id = accepted["run_id"]
    assert receiver.wait_for(1), "the step's request never reached the receiver"
    sent = receiver.requests[0]
    assert (sent.method, sent.path) == ("POST", "/notify")
    assert json.loads(sent.body) == {"event": "deployed", "count": 3}
    assert sent.headers["content-type"] == "application/json"

    run = wait_for_finished_run(alice_api, run_id)
    assert run["status"] == "succeeded", run
    [result] = run["step_results"]
    assert (result["name"], result["status"], result["attempts"]) == ("notify", "succeeded", 1)
    assert result["output"]["status"] == 200
    assert result["output"]["body"] == {"ok": True}  # JSON responses are parsed for later steps
    # Claiming makes a repeated wake-up harmless: the step acted exactly once.
    assert len(receiver.requests) == 1

    deliveries = alice_api.get(f"/api/workflows/{workflow['id']}/deliveries/")
    assert deliveries.status_code == 200, deliveries.content
    [delivery] = deliveries.json()["results"]
    assert (delivery["outcome"], delivery["status_code"]) == ("accepted", 202)
    assert delivery["run_ids"] == [run_id]


def test_a_regenerated_key_retires_the_old_url_at_once(
    alice_api: APIClient,
    receiver: Receiver,
    workers: CeleryCluster,
    public_base_url: str,
    http: requests.Session,
) -> None:
    workflow = create_workflow(alice_api, steps=[http_step(f"{receiver.url}/notify")])
    old_url = workflow["trigger"]["webhook_url"]
    assert post_webhook(http, old_url).status_code == 202
    regenerated = alice_api.post(f"/api/workflows/{workflow['id']}/trigger/regenerate/")
    assert regenerated.status_code == 200, regenerated.content
    new_url = regenerated.json()["webhook_url"]
    # Same trigger, new key: only the last path segment changes.
    assert new_url != old_url
    assert new_url.rsplit("/", 1)[0] == old_url.rsplit("/", 1)[0]

    # No pause in between: the old key must be dead the moment the regenerate call returned.
    refused = post_webhook(http, old_url)
    accepted = post_webhook(http, new_url)

    assert refused.status_code == 404, refused.text
    assert refused.json()["error"] == "not_found"
    assert accepted.status_code == 202, accepted.text
    run = wait_for_finished_run(alice_api, accepted.json()["run_id"])
    assert run["status"] == "succeeded", run
    deliveries = alice_api.get(f"/api/workflows/{workflow['id']}/deliveries/").json()["results"]
    # Newest first: the refused call is logged against the trigger but started nothing.
    outcomes = [(d["outcome"], d["status_code"], len(d["run_ids"])) for d in deliveries]
    assert outcomes == [("accepted", 202, 1), ("rejected", 404, 0), ("accepted", 202, 1)]
