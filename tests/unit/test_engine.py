"""The engine, called as a worker calls it, against a real local HTTP server."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tests.support.builders import create_workflow, http_step, webhook_path
from tests.support.receiver import Receiver, Reply
from workflows.engine import run_claim, run_execute
from workflows.models import Run

pytestmark = pytest.mark.django_db

NO_RETRY = {"max_attempts": 1}


def start_run(api: APIClient, client: Client, steps: list[dict[str, Any]]) -> int:
    workflow = create_workflow(api, steps=steps)
    response = client.generic("POST", webhook_path(workflow), HTTP_X_REQUEST_ID="req-1")
    assert response.status_code == 202
    run_id: int = response.json()["run_id"]
    return run_id


def test_a_run_sends_its_request_and_records_the_result(
    alice_api: APIClient, client: Client, receiver: Receiver
) -> None:
    step = http_step(f"{receiver.url}/hook", headers={"X-Env": "test"}, body={"hello": ["world", 1]})
    run_id = start_run(alice_api, client, [step])
    assert run_execute(run_id=run_id) == "succeeded"
    (request,) = receiver.requests
    assert (request.method, request.path, request.headers["x-env"]) == ("POST", "/hook", "test")
    assert json.loads(request.body) == {"hello": ["world", 1]}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("Orchestrator-Webhooks/")
    run = Run.objects.get(pk=run_id)
    assert (run.status, run.claims, run.error) == ("succeeded", 1, "")
    assert run.finished_at is not None and run.lease_expires_at is None
    (result,) = run.step_results.all()
    output = result.output or {}
    assert (result.status, result.attempts, output["status"]) == ("succeeded", 1, 200)
    assert output["body"] == {"ok": True}  # JSON responses are parsed for later steps


def test_a_receiver_error_fails_the_run_and_skips_later_steps(
    alice_api: APIClient, client: Client, receiver: Receiver
) -> None:
    receiver.replies = [Reply(status=500, body=b"boom")]
    steps = [http_step(receiver.url, name="a", retry=NO_RETRY), http_step(receiver.url, name="b")]
    run_id = start_run(alice_api, client, steps)
    assert run_execute(run_id=run_id) == "failed"
    run = Run.objects.get(pk=run_id)
    assert run.error == "step 'a' failed: receiver answered 500"
    (result,) = run.step_results.all()
    assert (result.status, (result.output or {})["body"]) == ("failed", "boom")
    assert len(receiver.requests) == 1


def test_an_unreachable_receiver_fails_the_step_with_a_plain_reason(
    alice_api: APIClient, client: Client
) -> None:
    closed = Receiver()
    url = closed.url
    closed.stop()  # nothing listens on this port any more
    run_id = start_run(alice_api, client, [http_step(url, timeout=2, retry=NO_RETRY)])
    assert run_execute(run_id=run_id) == "failed"
    (result,) = Run.objects.get(pk=run_id).step_results.all()
    assert result.error.startswith("could not connect")


def test_a_slow_receiver_fails_the_step_at_its_timeout(
    alice_api: APIClient, client: Client, receiver: Receiver
) -> None:
    receiver.replies = [Reply(delay=3)]
    run_id = start_run(alice_api, client, [http_step(receiver.url, timeout=0.5, retry=NO_RETRY)])
    assert run_execute(run_id=run_id) == "failed"
    assert Run.objects.get(pk=run_id).step_results.get().error == "no response within 0.5 s"


def test_a_run_delivered_twice_executes_once(
    alice_api: APIClient, client: Client, receiver: Receiver
) -> None:
    run_id = start_run(alice_api, client, [http_step(receiver.url)])
    assert run_execute(run_id=run_id) == "succeeded"
    assert run_execute(run_id=run_id) is None
    assert len(receiver.requests) == 1


def test_a_running_run_is_not_taken_while_its_lease_holds(
    alice_api: APIClient, client: Client, receiver: Receiver
) -> None:
    run_id = start_run(alice_api, client, [http_step(receiver.url)])
    assert run_claim(run_id=run_id) is not None
    assert run_execute(run_id=run_id) is None
    assert receiver.requests == []


def test_a_run_whose_worker_died_is_taken_over_and_skips_finished_steps(
    alice_api: APIClient, client: Client, receiver: Receiver
) -> None:
    steps = [http_step(f"{receiver.url}/a", name="a"), http_step(f"{receiver.url}/b", name="b")]
    run_id = start_run(alice_api, client, steps)
    # The first worker finished step a, then died in step b: replay exactly that state.
    assert run_execute(run_id=run_id) == "succeeded"
    run = Run.objects.get(pk=run_id)
    run.step_results.filter(name="b").update(status="running", output=None)
    Run.objects.filter(pk=run_id).update(
        status="running", lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    receiver.requests.clear()
    assert run_execute(run_id=run_id) == "succeeded"
    assert [r.path for r in receiver.requests] == ["/b"]
    run.refresh_from_db()
    assert run.claims == 2
    assert run.step_results.get(name="b").attempts == 2


def test_a_worker_that_lost_its_lease_cannot_finish_the_run(
    alice_api: APIClient, client: Client, receiver: Receiver
) -> None:
    run_id = start_run(alice_api, client, [http_step(receiver.url)])
    claim = run_claim(run_id=run_id)
    assert claim is not None
    # Another worker takes over after the lease ran out; the first one's token is now stale.
    Run.objects.filter(pk=run_id).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert run_claim(run_id=run_id) is not None
    from workflows.engine import _finish

    assert _finish(claim[0], claim[1], "succeeded", "") is None
    assert Run.objects.get(pk=run_id).status == "running"


def test_a_run_with_no_steps_succeeds(alice_api: APIClient, client: Client) -> None:
    run_id = start_run(alice_api, client, [])
    assert run_execute(run_id=run_id) == "succeeded"
