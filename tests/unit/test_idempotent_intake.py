"""Idempotent intake: the same event sent twice starts one run; the repeat gets the first run's id."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tests.support.builders import create_workflow, webhook_path
from triggers.models import Delivery, DeliveryKey
from workflows.models import Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def workflow(alice_api: APIClient) -> dict[str, Any]:
    return create_workflow(alice_api)


def post(client: Client, workflow: dict[str, Any], **headers: Any) -> Any:
    return client.generic("POST", webhook_path(workflow), **headers)


@pytest.mark.parametrize("header", ["HTTP_IDEMPOTENCY_KEY", "HTTP_WEBHOOK_ID", "HTTP_X_GITHUB_DELIVERY"])
def test_a_repeated_delivery_id_gets_the_first_run(
    client: Client, workflow: dict[str, Any], header: str
) -> None:
    first = post(client, workflow, **{header: "evt-1"})
    second = post(client, workflow, **{header: "evt-1"})
    assert first.status_code == 202
    assert (second.status_code, second.json()) == (
        200,
        {"run_id": first.json()["run_id"], "status": "duplicate"},
    )
    assert Run.objects.count() == 1
    duplicate = Delivery.objects.get(outcome="duplicate")
    assert (duplicate.detail or {})["original_run"] == first.json()["run_id"]


def test_identical_bodies_without_an_id_are_different_events(
    client: Client, workflow: dict[str, Any]
) -> None:
    assert post(client, workflow).status_code == 202
    assert post(client, workflow).status_code == 202
    assert Run.objects.count() == 2


def test_other_ids_are_other_events(client: Client, workflow: dict[str, Any]) -> None:
    post(client, workflow, HTTP_IDEMPOTENCY_KEY="a")
    assert post(client, workflow, HTTP_IDEMPOTENCY_KEY="b").status_code == 202
    assert Run.objects.count() == 2


def test_after_the_window_the_id_starts_a_new_run(client: Client, workflow: dict[str, Any]) -> None:
    first = post(client, workflow, HTTP_IDEMPOTENCY_KEY="k").json()["run_id"]
    DeliveryKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    again = post(client, workflow, HTTP_IDEMPOTENCY_KEY="k")
    assert again.status_code == 202 and again.json()["run_id"] != first
    assert DeliveryKey.objects.get().run_id == again.json()["run_id"]


def test_a_body_field_can_be_the_id(alice_api: APIClient, client: Client) -> None:
    workflow = create_workflow(alice_api, publish=False)
    base = f"/api/workflows/{workflow['id']}/trigger/"
    alice_api.put(
        base + "schema/", {"kind": "sample", "samples": [{"id": "evt_1", "type": "x"}]}, format="json"
    )
    response = alice_api.patch(base, {"dedupe_field": "id"}, format="json")
    assert response.status_code == 200 and response.json()["dedupe_field"] == "id"
    alice_api.post(f"/api/workflows/{workflow['id']}/publish/")
    send = lambda body: client.generic("POST", webhook_path(workflow), json.dumps(body), "application/json")  # noqa: E731
    assert send({"id": "evt_1", "type": "x"}).status_code == 202
    assert send({"id": "evt_1", "type": "other"}).json()["status"] == "duplicate"
    assert send({"id": "evt_2", "type": "x"}).status_code == 202
    assert send({"type": "no id"}).status_code == 202  # no id: nothing to deduplicate on


def test_a_window_of_zero_turns_it_off(
    alice_api: APIClient, client: Client, workflow: dict[str, Any]
) -> None:
    alice_api.patch(f"/api/workflows/{workflow['id']}/trigger/", {"dedupe_window_seconds": 0}, format="json")
    alice_api.post(f"/api/workflows/{workflow['id']}/publish/")
    post(client, workflow, HTTP_IDEMPOTENCY_KEY="k")
    assert post(client, workflow, HTTP_IDEMPOTENCY_KEY="k").status_code == 202


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"dedupe_field": "a..b"}, "dedupe_field"), ({"dedupe_window_seconds": -1}, "dedupe_window_seconds"),
     ({"public_id": "x"}, "public_id")],
)  # fmt: skip
def test_bad_settings_are_refused_by_field(
    alice_api: APIClient, workflow: dict[str, Any], changes: dict[str, Any], field: str
) -> None:
    response = alice_api.patch(f"/api/workflows/{workflow['id']}/trigger/", changes, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]
