"""Listen for a sample: the next real request becomes the trigger's sample and starts no run."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tests.support.builders import create_workflow, webhook_path
from triggers.models import Delivery, WebhookTrigger
from workflows.models import Run

pytestmark = pytest.mark.django_db

SAMPLE = b'{"event": "order.paid", "order": {"id": 42, "total": 9.5}}'


@pytest.fixture
def workflow(alice_api: APIClient) -> dict[str, Any]:
    return create_workflow(alice_api, publish=False)


def listen(api: APIClient, workflow: dict[str, Any]) -> Any:
    return api.post(f"/api/workflows/{workflow['id']}/trigger/listen/")


def test_the_next_request_is_captured_even_while_unpublished(
    alice_api: APIClient, client: Client, workflow: dict[str, Any]
) -> None:
    armed = listen(alice_api, workflow)
    assert armed.status_code == 202 and armed.json()["listening"] is True
    response = client.generic("POST", webhook_path(workflow), SAMPLE, content_type="application/json")
    assert response.status_code == 202
    assert response.json()["status"] == "captured"
    assert not Run.objects.exists()
    assert Delivery.objects.get().outcome == "captured"
    status = alice_api.get(f"/api/workflows/{workflow['id']}/trigger/listen/").json()
    assert status["listening"] is False
    assert status["captured"] == {"event": "order.paid", "order": {"id": 42, "total": 9.5}}
    schema = alice_api.get(f"/api/workflows/{workflow['id']}/trigger/").json()["payload_schema"]
    assert schema["kind"] == "sample"
    assert {n["path"] for n in schema["preview"]} >= {"event", "order"}


def test_a_second_post_after_the_capture_behaves_normally(
    alice_api: APIClient, client: Client, workflow: dict[str, Any]
) -> None:
    listen(alice_api, workflow)
    client.generic("POST", webhook_path(workflow), SAMPLE, content_type="application/json")
    second = client.generic("POST", webhook_path(workflow), SAMPLE, content_type="application/json")
    assert second.status_code == 409  # still unpublished
    alice_api.post(f"/api/workflows/{workflow['id']}/publish/")
    third = client.generic("POST", webhook_path(workflow), b'{"event": "x"}', content_type="application/json")
    assert third.status_code == 202 and "run_id" in third.json()
    wrong_kind = client.generic("POST", webhook_path(workflow), b"[1, 2]", content_type="application/json")
    assert wrong_kind.status_code == 422


def test_an_empty_or_broken_body_is_not_captured_and_listening_goes_on(
    alice_api: APIClient, client: Client, workflow: dict[str, Any]
) -> None:
    listen(alice_api, workflow)
    assert client.generic("POST", webhook_path(workflow)).json()["error"] == "sample_empty"
    broken = client.generic("POST", webhook_path(workflow), b"{", content_type="application/json")
    assert broken.json()["error"] == "invalid_json"
    assert alice_api.get(f"/api/workflows/{workflow['id']}/trigger/listen/").json()["listening"] is True


def test_listening_ends_after_its_window(
    alice_api: APIClient, client: Client, workflow: dict[str, Any]
) -> None:
    listen(alice_api, workflow)
    WebhookTrigger.objects.update(listen_until=timezone.now() - timedelta(seconds=1))
    response = client.generic("POST", webhook_path(workflow), SAMPLE, content_type="application/json")
    assert response.status_code == 409
    assert alice_api.get(f"/api/workflows/{workflow['id']}/trigger/listen/").json()["listening"] is False


def test_listening_can_be_cancelled(alice_api: APIClient, client: Client, workflow: dict[str, Any]) -> None:
    listen(alice_api, workflow)
    stopped = alice_api.delete(f"/api/workflows/{workflow['id']}/trigger/listen/")
    assert stopped.json()["listening"] is False
    response = client.generic("POST", webhook_path(workflow), SAMPLE, content_type="application/json")
    assert response.status_code == 409


def test_a_wrong_key_is_never_captured(
    alice_api: APIClient, client: Client, workflow: dict[str, Any]
) -> None:
    listen(alice_api, workflow)
    public_id = webhook_path(workflow).split("/")[2]
    response = client.generic("POST", f"/hooks/{public_id}/wrong", SAMPLE, content_type="application/json")
    assert response.status_code == 404
    assert alice_api.get(f"/api/workflows/{workflow['id']}/trigger/listen/").json()["listening"] is True
