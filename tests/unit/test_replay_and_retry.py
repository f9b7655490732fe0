"""Second chances: replay any run on the current version; retry a failed run from its failed step."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.support.builders import create_workflow, http_step, webhook_path
from tests.support.receiver import Receiver, Reply
from workflows.engine import run_execute
from workflows.models import Run

pytestmark = pytest.mark.django_db

NO_RETRY = {"max_attempts": 1}


def test_a_replay_runs_the_same_data_on_the_current_version(
    alice_api: APIClient, client: Client, receiver: Receiver
) -> None:
    workflow = create_workflow(alice_api, steps=[http_step(f"{receiver.url}/v1", name="s")])
    run_id = client.generic("POST", webhook_path(workflow), HTTP_X_TRACE="t-1").json()["run_id"]
    run_execute(run_id=run_id)
    step_id = workflow["steps"][0]["id"]
    alice_api.patch(
        f"/api/workflows/{workflow['id']}/steps/{step_id}/",
        {"config": {"url": f"{receiver.url}/v2"}},
        format="json",
    )
    alice_api.post(f"/api/workflows/{workflow['id']}/publish/")
    response = alice_api.post(f"/api/runs/{run_id}/replay/")
    assert response.status_code == 202
    replay_id = response.json()["run_id"]
    assert run_execute(run_id=replay_id) == "succeeded"
    replay = alice_api.get(f"/api/runs/{replay_id}/").json()
    original = alice_api.get(f"/api/runs/{run_id}/").json()
    assert (replay["replay_of"], replay["version"], replay["delivery"]) == (run_id, 2, original["delivery"])
    assert replay["trigger"] == original["trigger"]
    assert [r.path for r in receiver.requests] == ["/v1", "/v2"]


def test_replay_needs_a_published_workflow(alice_api: APIClient, client: Client) -> None:
    workflow = create_workflow(alice_api)
    run_id = client.generic("POST", webhook_path(workflow)).json()["run_id"]
    alice_api.post(f"/api/workflows/{workflow['id']}/unpublish/")
    response = alice_api.post(f"/api/runs/{run_id}/replay/")
    assert (response.status_code, response.json()["error"]) == (409, "workflow_not_published")


def test_a_failed_run_is_retried_from_its_failed_step(
    alice_api: APIClient, client: Client, receiver: Receiver
) -> None:
    receiver.replies = [Reply(), Reply(status=400), Reply()]
    steps = [
        http_step(f"{receiver.url}/first", name="first"),
        http_step(f"{receiver.url}/second", name="second", retry=NO_RETRY),
    ]
    workflow = create_workflow(alice_api, steps=steps)
    run_id = client.generic("POST", webhook_path(workflow)).json()["run_id"]
    assert run_execute(run_id=run_id) == "failed"
    response = alice_api.post(f"/api/runs/{run_id}/retry/")
    assert (response.status_code, response.json()["status"]) == (202, "queued")
    assert run_execute(run_id=run_id) == "succeeded"
    assert [r.path for r in receiver.requests] == ["/first", "/second", "/second"]
    second = [r for r in receiver.requests if r.path == "/second"]
    assert second[0].headers["idempotency-key"] == second[1].headers["idempotency-key"]
    detail = alice_api.get(f"/api/runs/{run_id}/").json()
    log = detail["step_results"][1]["attempt_log"]
    assert [(a["number"], a["status"], a["response_status"]) for a in log] == [
        (1, "failed", 400),
        (2, "succeeded", 200),
    ]
    assert json.loads(json.dumps(detail))["status"] == "succeeded"


def test_only_failed_runs_can_be_retried(alice_api: APIClient, client: Client) -> None:
    workflow = create_workflow(alice_api)
    run_id = client.generic("POST", webhook_path(workflow)).json()["run_id"]
    response = alice_api.post(f"/api/runs/{run_id}/retry/")
    assert (response.status_code, response.json()["error"]) == (409, "run_not_failed")
    assert Run.objects.get(pk=run_id).status == "queued"
