"""Filters at the webhook: saved through the API, checked against the preview, applied on receive."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.support.builders import create_workflow, webhook_path
from triggers.models import Delivery
from workflows.models import Run

pytestmark = pytest.mark.django_db

SAMPLE = {"action": "opened", "issue": {"title": "Crash", "labels": [{"name": "bug"}]}, "amount": 10}
BUGS_ONLY = {
    "all": [
        {"field": "action", "op": "equals", "value": "opened"},
        {"field": "issue.labels[*].name", "op": "contains", "value": "bug"},
    ]
}


@pytest.fixture
def workflow(alice_api: APIClient) -> dict[str, Any]:
    workflow = create_workflow(alice_api, publish=False)
    base = f"/api/workflows/{workflow['id']}/trigger"
    assert (
        alice_api.put(f"{base}/schema/", {"kind": "sample", "samples": [SAMPLE]}, format="json").status_code
        == 200
    )
    return workflow


def put_filters(api: APIClient, workflow: dict[str, Any], tree: Any) -> Any:
    return api.put(f"/api/workflows/{workflow['id']}/trigger/filters/", tree, format="json")


def post_json(client: Client, workflow: dict[str, Any], payload: Any, **extra: Any) -> Any:
    return client.generic("POST", webhook_path(workflow), json.dumps(payload), "application/json", **extra)


def test_a_passing_request_runs_and_a_failing_one_is_filtered_and_logged(
    alice_api: APIClient, client: Client, workflow: dict[str, Any]
) -> None:
    saved = put_filters(alice_api, workflow, BUGS_ONLY)
    assert saved.status_code == 200
    assert saved.json()["filters"] == BUGS_ONLY and saved.json()["warnings"] == []
    alice_api.post(f"/api/workflows/{workflow['id']}/publish/")

    passing = post_json(client, workflow, SAMPLE)
    assert passing.status_code == 202
    feature = {**SAMPLE, "issue": {"title": "Idea", "labels": [{"name": "feature"}]}}
    filtered = post_json(client, workflow, feature)
    assert filtered.status_code == 200
    assert filtered.json()["status"] == "filtered"
    assert Run.objects.count() == 1
    delivery = Delivery.objects.filter(outcome="filtered").get()
    condition = (delivery.detail or {})["failed_condition"]
    assert (condition["path"], condition["field"], condition["passed"]) == (
        "/all/1",
        "issue.labels[*].name",
        False,
    )
    assert delivery.status_code == 200


def test_filters_read_headers_and_query_parameters(
    alice_api: APIClient, client: Client, workflow: dict[str, Any]
) -> None:
    tree = {
        "all": [
            {"field": "headers.X-GitHub-Event", "op": "equals", "value": "issues"},
            {"field": "query.env", "op": "in", "value": ["prod", "staging"]},
        ]
    }
    assert put_filters(alice_api, workflow, tree).status_code == 200
    alice_api.post(f"/api/workflows/{workflow['id']}/publish/")
    path = webhook_path(workflow)
    ok = client.generic(
        "POST", f"{path}?env=prod", json.dumps(SAMPLE), "application/json", HTTP_X_GITHUB_EVENT="issues"
    )
    assert ok.status_code == 202
    wrong = client.generic(
        "POST", f"{path}?env=dev", json.dumps(SAMPLE), "application/json", HTTP_X_GITHUB_EVENT="issues"
    )
    assert wrong.json()["status"] == "filtered"


def test_filters_take_effect_on_publish(
    alice_api: APIClient, client: Client, workflow: dict[str, Any]
) -> None:
    alice_api.post(f"/api/workflows/{workflow['id']}/publish/")
    put_filters(alice_api, workflow, {"field": "amount", "op": "gt", "value": 100})
    assert post_json(client, workflow, SAMPLE).status_code == 202  # the published version has no filters
    alice_api.post(f"/api/workflows/{workflow['id']}/publish/")
    assert post_json(client, workflow, SAMPLE).status_code == 200
    assert post_json(client, workflow, {**SAMPLE, "amount": 250}).status_code == 202


def test_invalid_filters_are_refused_with_the_path_of_each_problem(
    alice_api: APIClient, workflow: dict[str, Any]
) -> None:
    tree = {
        "any": [{"all": [{"field": "a", "op": "resembles", "value": 1}, {"field": "b..c", "op": "exists"}]}]
    }
    response = put_filters(alice_api, workflow, tree)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "filters_invalid"
    assert {e["path"] for e in body["errors"]} == {"/any/0/all/0/op", "/any/0/all/1/field"}


def test_a_bad_regex_is_refused_at_save(alice_api: APIClient, workflow: dict[str, Any]) -> None:
    response = put_filters(alice_api, workflow, {"field": "action", "op": "matches", "value": "(a)\\1"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "/value"


def test_a_field_missing_from_the_preview_is_saved_with_a_warning(
    alice_api: APIClient, workflow: dict[str, Any]
) -> None:
    response = put_filters(alice_api, workflow, {"field": "pull_request.merged", "op": "is_true"})
    assert response.status_code == 200
    assert [w["path"] for w in response.json()["warnings"]] == ["/field"]


def test_the_dry_run_reports_every_condition(alice_api: APIClient, workflow: dict[str, Any]) -> None:
    put_filters(alice_api, workflow, BUGS_ONLY)
    response = alice_api.post(
        f"/api/workflows/{workflow['id']}/trigger/filters/test/",
        {"payload": {**SAMPLE, "action": "closed"}},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["passed"] is False
    assert [c["passed"] for c in body["conditions"]] == [False, True]
    assert body["failed_condition"]["path"] == "/all/0"


def test_removing_the_filters_passes_everything(alice_api: APIClient, workflow: dict[str, Any]) -> None:
    put_filters(alice_api, workflow, BUGS_ONLY)
    response = put_filters(alice_api, workflow, {})
    assert response.json()["filters"] is None
