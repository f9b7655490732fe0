"""The receive endpoint: every answer it gives, and the delivery log behind each."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.test.utils import override_settings
from rest_framework.test import APIClient

from tests.support.builders import create_workflow, webhook_path
from triggers.models import Delivery
from workflows.models import Run

pytestmark = pytest.mark.django_db


def post_empty(client: Client, path: str, **extra: Any) -> Any:
    """What `curl -X POST URL` sends: no body at all (the test client's post() always sends one)."""
    return client.generic("POST", path, b"", **extra)


@pytest.fixture
def workflow(alice_api: APIClient) -> dict[str, Any]:
    return create_workflow(alice_api, steps=[])


def test_an_empty_post_is_accepted_and_queues_a_run(client: Client, workflow: dict[str, Any]) -> None:
    response = post_empty(client, webhook_path(workflow))
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    run = Run.objects.get(pk=body["run_id"])
    assert run.status == "queued"
    assert run.version.number == 1
    assert run.delivery is not None
    assert run.delivery.outcome == "accepted"
    assert run.delivery.status_code == 202


def test_an_empty_body_with_a_json_content_type_is_still_empty(
    client: Client, workflow: dict[str, Any]
) -> None:
    assert post_empty(client, webhook_path(workflow), content_type="application/json").status_code == 202


def test_a_trailing_slash_is_accepted_without_a_redirect(client: Client, workflow: dict[str, Any]) -> None:
    assert post_empty(client, webhook_path(workflow) + "/").status_code == 202


def test_a_body_without_a_schema_is_refused_and_logged(client: Client, workflow: dict[str, Any]) -> None:
    response = client.post(webhook_path(workflow), {"a": 1}, content_type="application/json")
    assert response.status_code == 422
    assert response.json()["error"] == "body_not_allowed"
    delivery = Delivery.objects.get()
    assert (delivery.outcome, delivery.status_code, delivery.error) == ("rejected", 422, "body_not_allowed")
    assert bytes(delivery.body) == b'{"a": 1}'
    assert not Run.objects.exists()


def test_a_get_is_refused_with_allow_post_and_logged(client: Client, workflow: dict[str, Any]) -> None:
    response = client.get(webhook_path(workflow))
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json()["error"] == "method_not_allowed"
    assert Delivery.objects.get().status_code == 405


@pytest.mark.parametrize("method", ["put", "patch", "delete", "head", "options"])
def test_every_other_method_is_refused(client: Client, workflow: dict[str, Any], method: str) -> None:
    assert getattr(client, method)(webhook_path(workflow)).status_code == 405
    assert not Run.objects.exists()


def test_an_unpublished_workflow_answers_409_and_logs_it(alice_api: APIClient, client: Client) -> None:
    workflow = create_workflow(alice_api, publish=False)
    response = post_empty(client, webhook_path(workflow))
    assert response.status_code == 409
    assert response.json()["error"] == "workflow_not_published"
    assert Delivery.objects.get().error == "workflow_not_published"


def test_unpublishing_turns_the_webhook_off(
    alice_api: APIClient, client: Client, workflow: dict[str, Any]
) -> None:
    alice_api.post(f"/api/workflows/{workflow['id']}/unpublish/")
    assert post_empty(client, webhook_path(workflow)).status_code == 409


@override_settings(WEBHOOK_MAX_BODY_BYTES=100)
def test_an_oversized_body_is_refused_with_413(client: Client, workflow: dict[str, Any]) -> None:
    response = client.post(webhook_path(workflow), "x" * 101, content_type="text/plain")
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    delivery = Delivery.objects.get()
    assert (delivery.status_code, delivery.body_size, bytes(delivery.body)) == (413, 101, b"")


def test_an_unknown_trigger_and_a_wrong_key_get_identical_404s(
    client: Client, workflow: dict[str, Any]
) -> None:
    path = webhook_path(workflow)
    public_id = path.split("/")[2]
    unknown = post_empty(client, "/hooks/nosuchtrigger/nosuchkey")
    wrong_key = post_empty(client, f"/hooks/{public_id}/wrongkey")
    assert unknown.status_code == wrong_key.status_code == 404
    assert unknown.content == wrong_key.content
    assert unknown.json()["error"] == "not_found"
    # Only the request that reached a real trigger is logged, on that trigger.
    delivery = Delivery.objects.get()
    assert (delivery.status_code, delivery.error, delivery.workflow_id) == (
        404,
        "invalid_key",
        workflow["id"],
    )


def test_regenerating_the_key_kills_the_old_url_at_once(
    alice_api: APIClient, client: Client, workflow: dict[str, Any]
) -> None:
    old_path = webhook_path(workflow)
    response = alice_api.post(f"/api/workflows/{workflow['id']}/trigger/regenerate/")
    assert response.status_code == 200
    new_url = response.json()["webhook_url"]
    assert new_url != workflow["trigger"]["webhook_url"]
    assert post_empty(client, old_path).status_code == 404
    assert post_empty(client, new_url[new_url.index("/hooks/") :]).status_code == 202


def test_credentials_in_headers_are_not_stored(client: Client, workflow: dict[str, Any]) -> None:
    post_empty(client, webhook_path(workflow), HTTP_AUTHORIZATION="Bearer hunter2", HTTP_X_REQUEST_ID="abc")
    headers = Delivery.objects.get().headers
    assert headers["x-request-id"] == "abc"
    assert "authorization" not in headers
    assert "hunter2" not in str(headers)


def test_the_runs_version_is_the_one_published_when_it_was_accepted(
    alice_api: APIClient, client: Client, workflow: dict[str, Any], receiver: Any
) -> None:
    first = post_empty(client, webhook_path(workflow)).json()["run_id"]
    alice_api.post(
        f"/api/workflows/{workflow['id']}/steps/",
        {"name": "later", "type": "http_request", "config": {"url": receiver.url}},
        format="json",
    )
    assert alice_api.get(f"/api/workflows/{workflow['id']}/").json()["has_unpublished_changes"] is True
    second = post_empty(client, webhook_path(workflow)).json()["run_id"]
    alice_api.post(f"/api/workflows/{workflow['id']}/publish/")
    third = post_empty(client, webhook_path(workflow)).json()["run_id"]
    versions = [Run.objects.get(pk=pk).version.number for pk in (first, second, third)]
    assert versions == [1, 1, 2]
