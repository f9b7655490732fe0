"""Each auth kind reaches a real local server with the right credentials; secrets stay write-only.

Standard Webhooks signatures are checked here by an implementation written from the specification,
independent of actions/signing.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.support.builders import create_workflow, http_step, webhook_path
from tests.support.receiver import Receiver, Reply
from workflows.engine import run_execute
from workflows.models import Step, WorkflowVersion

pytestmark = pytest.mark.django_db

SECRET_A = "whsec_" + base64.b64encode(b"a" * 32).decode()
SECRET_B = "whsec_" + base64.b64encode(b"b" * 32).decode()


def independent_verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Standard Webhooks, from the spec: HMAC-SHA256 over "id.timestamp.body" with the base64 key."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [s.split(",", 1)[1] for s in headers["webhook-signature"].split() if s.startswith("v1,")]
    recent = abs(time.time() - int(headers["webhook-timestamp"])) <= 300
    return recent and any(hmac.compare_digest(expected, sig) for sig in offered)


def send_once(api: APIClient, client: Client, step: dict[str, Any]) -> str:
    workflow = create_workflow(api, steps=[step])
    run_id = client.generic("POST", webhook_path(workflow)).json()["run_id"]
    status = run_execute(run_id=run_id)
    assert status == "succeeded"
    return str(workflow["id"])


@pytest.mark.parametrize(
    ("auth", "header", "expected"),
    [
        ({"kind": "basic", "username": "ann", "password": "s3cret"}, "authorization",
         "Basic " + base64.b64encode(b"ann:s3cret").decode()),
        ({"kind": "bearer", "token": "tok-123"}, "authorization", "Bearer tok-123"),
        ({"kind": "api_key", "name": "X-Api-Key", "value": "k-456", "in": "header"}, "x-api-key", "k-456"),
    ],
)  # fmt: skip
def test_header_auth_kinds_arrive(
    alice_api: APIClient, client: Client, receiver: Receiver, auth: dict[str, Any], header: str, expected: str
) -> None:
    send_once(alice_api, client, http_step(receiver.url, auth=auth))
    assert receiver.requests[0].headers[header] == expected


def test_an_api_key_in_the_query_arrives(alice_api: APIClient, client: Client, receiver: Receiver) -> None:
    auth = {"kind": "api_key", "name": "key", "value": "k 7", "in": "query"}
    send_once(alice_api, client, http_step(receiver.url + "/x?a=1", auth=auth))
    assert parse_qs(urlsplit(receiver.requests[0].path).query) == {"a": ["1"], "key": ["k 7"]}


def test_standard_webhooks_signatures_verify_independently_during_rotation(
    alice_api: APIClient, client: Client, receiver: Receiver
) -> None:
    auth = {"kind": "standard_webhooks", "secrets": [SECRET_A, SECRET_B]}
    send_once(alice_api, client, http_step(receiver.url, auth=auth, body={"n": 1}))
    request = receiver.requests[0]
    assert request.headers["webhook-id"] == request.headers["idempotency-key"]
    assert independent_verify(SECRET_A, request.headers, request.body)
    assert independent_verify(SECRET_B, request.headers, request.body)  # either key verifies: rotation
    assert not independent_verify(SECRET_A, request.headers, request.body + b" ")


def test_every_retry_is_signed_anew_over_the_same_message_id(
    alice_api: APIClient, client: Client, receiver: Receiver
) -> None:
    receiver.replies = [Reply(status=503), Reply()]
    auth = {"kind": "standard_webhooks", "secrets": [SECRET_A]}
    workflow = create_workflow(alice_api, steps=[http_step(receiver.url, auth=auth)])
    run_id = client.generic("POST", webhook_path(workflow)).json()["run_id"]
    assert run_execute(run_id=run_id) == "waiting"
    from tests.unit.test_step_retries import come_due

    come_due(run_id)
    assert run_execute(run_id=run_id) == "succeeded"
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert all(independent_verify(SECRET_A, r.headers, r.body) for r in receiver.requests)


def test_secrets_are_write_only_and_encrypted_at_rest(alice_api: APIClient, client: Client) -> None:
    workflow = create_workflow(
        alice_api, steps=[http_step("http://127.0.0.1:9/", auth={"kind": "bearer", "token": "tok-secret-1"})]
    )
    shown = workflow["steps"][0]["config"]["auth"]
    assert shown["token"] == "••••••••" and shown["set"] == {"token": True}
    step = Step.objects.get()
    assert "tok-secret-1" not in json.dumps(step.config)
    assert "tok-secret-1" not in json.dumps(WorkflowVersion.objects.get().snapshot)
    # Sending the config back as shown (masked) keeps the secret; the step still authenticates.
    step_url = f"/api/workflows/{workflow['id']}/steps/{step.pk}/"
    config = {**workflow["steps"][0]["config"], "url": "http://127.0.0.1:9/other"}
    assert alice_api.patch(step_url, {"config": config}, format="json").status_code == 200
    from actions.auth import decrypt_auth

    step.refresh_from_db()
    assert decrypt_auth(step.config["auth"])["token"] == "tok-secret-1"
    assert "tok-secret-1" not in alice_api.get(step_url).content.decode()


def test_the_attempt_log_never_holds_credentials(
    alice_api: APIClient, client: Client, receiver: Receiver
) -> None:
    workflow_id = send_once(
        alice_api, client, http_step(receiver.url, auth={"kind": "bearer", "token": "tok-log-9"})
    )
    runs = alice_api.get(f"/api/workflows/{workflow_id}/runs/").json()["results"]
    detail = alice_api.get(f"/api/runs/{runs[0]['id']}/").content.decode()
    assert '"auth":"bearer"' in detail.replace(" ", "")
    assert "tok-log-9" not in detail
