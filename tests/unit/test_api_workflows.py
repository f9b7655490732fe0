"""The REST API contract that the UI, later issues and acceptance checks build on."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.support.builders import create_workflow, http_step, webhook_path

pytestmark = pytest.mark.django_db


def test_creating_a_workflow_returns_it_as_a_draft(alice_api: APIClient) -> None:
    response = alice_api.post("/api/workflows/", {"name": "Orders", "description": "d"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["description"], body["status"], body["version"]) == (
        "Orders",
        "d",
        "draft",
        None,
    )
    assert body["trigger"] is None and body["steps"] == []
    assert body["has_unpublished_changes"] is True


def test_a_workflow_can_be_renamed_and_deleted(alice_api: APIClient) -> None:
    workflow_id = alice_api.post("/api/workflows/", {"name": "a"}, format="json").json()["id"]
    response = alice_api.patch(f"/api/workflows/{workflow_id}/", {"name": "b"}, format="json")
    assert response.json()["name"] == "b"
    assert alice_api.delete(f"/api/workflows/{workflow_id}/").status_code == 204
    assert alice_api.get(f"/api/workflows/{workflow_id}/").status_code == 404


def test_a_workflow_without_a_name_is_refused_with_the_field(alice_api: APIClient) -> None:
    response = alice_api.post("/api/workflows/", {}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_failed"
    assert "name" in response.json()["fields"]


def test_putting_the_trigger_twice_keeps_one_trigger_and_one_url(alice_api: APIClient) -> None:
    workflow_id = alice_api.post("/api/workflows/", {"name": "a"}, format="json").json()["id"]
    first = alice_api.put(f"/api/workflows/{workflow_id}/trigger/")
    second = alice_api.put(f"/api/workflows/{workflow_id}/trigger/")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["webhook_url"] == second.json()["webhook_url"]
    assert first.json()["webhook_url"].startswith("http://127.0.0.1:8000/hooks/")
    assert alice_api.get(f"/api/workflows/{workflow_id}/").json()["trigger"]["id"] == first.json()["id"]


def test_deleting_the_trigger_removes_its_url(alice_api: APIClient, client: Client) -> None:
    workflow = create_workflow(alice_api)
    assert alice_api.delete(f"/api/workflows/{workflow['id']}/trigger/").status_code == 204
    assert alice_api.get(f"/api/workflows/{workflow['id']}/trigger/").status_code == 404
    assert client.generic("POST", webhook_path(workflow)).status_code == 404


def test_publishing_without_a_trigger_is_refused(alice_api: APIClient) -> None:
    workflow_id = alice_api.post("/api/workflows/", {"name": "a"}, format="json").json()["id"]
    response = alice_api.post(f"/api/workflows/{workflow_id}/publish/")
    assert response.status_code == 400
    assert response.json()["error"] == "trigger_missing"


def test_publishing_numbers_versions_and_reuses_an_unchanged_one(alice_api: APIClient) -> None:
    workflow = create_workflow(alice_api, steps=[http_step("http://127.0.0.1:9/")])
    assert (workflow["status"], workflow["version"], workflow["has_unpublished_changes"]) == (
        "published",
        1,
        False,
    )
    assert alice_api.post(f"/api/workflows/{workflow['id']}/publish/").json()["version"] == 1
    step_id = workflow["steps"][0]["id"]
    alice_api.patch(f"/api/workflows/{workflow['id']}/steps/{step_id}/", {"name": "renamed"}, format="json")
    assert alice_api.get(f"/api/workflows/{workflow['id']}/").json()["has_unpublished_changes"] is True
    assert alice_api.post(f"/api/workflows/{workflow['id']}/publish/").json()["version"] == 2
    unpublished = alice_api.post(f"/api/workflows/{workflow['id']}/unpublish/").json()
    assert (unpublished["status"], unpublished["version"]) == ("draft", None)


def test_steps_are_validated_with_the_path_of_each_problem(alice_api: APIClient) -> None:
    workflow_id = alice_api.post("/api/workflows/", {"name": "a"}, format="json").json()["id"]
    bad = {"method": "FETCH", "url": "ftp://x", "headers": {"X-A": "1\r\nX-B: 2"}, "timeout": 600}
    response = alice_api.post(
        f"/api/workflows/{workflow_id}/steps/",
        {"name": "s", "type": "http_request", "config": bad},
        format="json",
    )
    assert response.status_code == 400
    fields = response.json()["fields"]["config"]
    assert set(fields) == {"method", "url", "headers.X-A", "timeout"}


def test_an_unknown_step_type_is_refused(alice_api: APIClient) -> None:
    workflow_id = alice_api.post("/api/workflows/", {"name": "a"}, format="json").json()["id"]
    response = alice_api.post(
        f"/api/workflows/{workflow_id}/steps/", {"name": "s", "type": "shell", "config": {}}, format="json"
    )
    assert response.status_code == 400
    assert "type" in response.json()["fields"]


def test_step_names_are_unique_within_a_workflow(alice_api: APIClient) -> None:
    workflow = create_workflow(alice_api, steps=[http_step("http://127.0.0.1:9/")], publish=False)
    response = alice_api.post(
        f"/api/workflows/{workflow['id']}/steps/", http_step("http://x/"), format="json"
    )
    assert response.status_code == 400
    assert "name" in response.json()["fields"]


def test_steps_are_listed_in_position_order(alice_api: APIClient) -> None:
    workflow = create_workflow(alice_api, publish=False)
    base = f"/api/workflows/{workflow['id']}/steps/"
    alice_api.post(base, {**http_step("http://a/", name="second"), "position": 2}, format="json")
    alice_api.post(base, {**http_step("http://a/", name="first"), "position": 1}, format="json")
    assert [s["name"] for s in alice_api.get(base).json()] == ["first", "second"]
    step_id = alice_api.get(base).json()[0]["id"]
    assert alice_api.delete(f"{base}{step_id}/").status_code == 204
    assert [s["name"] for s in alice_api.get(base).json()] == ["second"]


def test_runs_and_deliveries_are_listed_newest_first(alice_api: APIClient, client: Client) -> None:
    workflow = create_workflow(alice_api)
    run_ids = [client.generic("POST", webhook_path(workflow)).json()["run_id"] for _ in range(3)]
    runs = alice_api.get(f"/api/workflows/{workflow['id']}/runs/?page_size=2").json()
    assert [r["id"] for r in runs["results"]] == run_ids[::-1][:2]
    assert alice_api.get(runs["next"]).json()["results"][0]["id"] == run_ids[0]
    deliveries = alice_api.get(f"/api/workflows/{workflow['id']}/deliveries/").json()["results"]
    assert [d["run_ids"] for d in deliveries] == [[i] for i in run_ids[::-1]]
    detail = alice_api.get(f"/api/runs/{run_ids[0]}/").json()
    assert (detail["status"], detail["version"], detail["step_results"]) == ("queued", 1, [])


def test_the_api_needs_credentials(client: Client) -> None:
    response = client.get("/api/workflows/")
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


def test_a_wrong_token_is_refused(alice: object) -> None:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Token orc_not-a-real-token")
    response = api.get("/api/workflows/")
    assert response.status_code == 401
    assert response.json()["error"] == "authentication_failed"


def test_session_login_works_for_the_browser(alice: object, client: Client) -> None:
    assert client.login(username="alice", password="alice-password")
    assert client.get("/api/workflows/").status_code == 200
