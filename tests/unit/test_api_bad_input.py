"""Inputs that once made the API answer 500 (found by the schemathesis run in test_api_fuzz.py): each
now gets a 4xx or a success, with the usual JSON error body."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.support.builders import create_workflow, http_step, webhook_path
from workflows.models import Run, Workflow, WorkflowVersion

pytestmark = pytest.mark.django_db


def test_a_workflow_that_has_runs_can_be_deleted(alice_api: APIClient, client: Client) -> None:
    # A run protects its version from deletion, which refused the workflow's cascade with a 500.
    workflow = create_workflow(alice_api)
    run_id = client.generic("POST", webhook_path(workflow)).json()["run_id"]
    replay = alice_api.post(f"/api/runs/{run_id}/replay/")
    assert replay.status_code == 202
    response = alice_api.delete(f"/api/workflows/{workflow['id']}/")
    assert response.status_code == 204
    assert alice_api.get(f"/api/workflows/{workflow['id']}/").status_code == 404
    assert alice_api.get(f"/api/runs/{run_id}/").status_code == 404
    assert not Workflow.objects.filter(pk=workflow["id"]).exists()
    assert not Run.objects.exists() and not WorkflowVersion.objects.exists()


@pytest.mark.parametrize("position", [2**31, 2**63, 2**70, -(2**70), 1_000_000_001])
def test_a_step_position_out_of_range_is_a_400(alice_api: APIClient, position: int) -> None:
    # An unbounded integer reached the column: OverflowError on SQLite, DataError on PostgreSQL.
    workflow = create_workflow(alice_api, steps=[http_step("http://127.0.0.1:9/")], publish=False)
    step_url = f"/api/workflows/{workflow['id']}/steps/{workflow['steps'][0]['id']}/"
    patched = alice_api.patch(step_url, {"position": position}, format="json")
    created = alice_api.post(
        f"/api/workflows/{workflow['id']}/steps/",
        {**http_step("http://127.0.0.1:9/", name="second"), "position": position},
        format="json",
    )
    for response in (patched, created):
        assert response.status_code == 400, response.content
        assert response.json()["error"] == "validation_failed"
        assert "position" in response.json()["fields"]


def test_a_step_position_at_the_bound_is_kept(alice_api: APIClient) -> None:
    workflow = create_workflow(alice_api, publish=False)
    steps = f"/api/workflows/{workflow['id']}/steps/"
    first = alice_api.post(
        steps, {**http_step("http://127.0.0.1:9/", name="a"), "position": 10**9}, format="json"
    )
    assert (first.status_code, first.json()["position"]) == (201, 10**9)
    second = alice_api.post(steps, http_step("http://127.0.0.1:9/", name="b"), format="json")
    assert (second.status_code, second.json()["position"]) == (201, 10**9 + 1)


def send_json(api: APIClient, method: str, url: str, body: object) -> Any:
    """The body as raw JSON text: ``json.dumps`` writes an unpaired surrogate as the escape ``\\ud800``."""
    return api.generic(method, url, json.dumps(body), content_type="application/json")


@pytest.mark.parametrize(
    "config",
    [
        {"body": {"a": "\x00"}},
        {"body": {"\x00": 1}},
        {"body": {"a": "\ud800"}},
        {"headers": {"X-A": "\udfff"}},
    ],
)
def test_a_step_config_with_unstorable_text_is_a_400(alice_api: APIClient, config: dict[str, Any]) -> None:
    # NUL: PostgreSQL's jsonb refused it (DataError); an unpaired surrogate: the step was stored, then
    # every answer that showed it failed to encode as UTF-8.
    workflow = create_workflow(alice_api, publish=False)
    step = http_step("http://127.0.0.1:9/")
    step["config"].update(config)
    response = send_json(alice_api, "POST", f"/api/workflows/{workflow['id']}/steps/", step)
    assert response.status_code == 400, response.content
    assert response.json()["fields"]["config"] == [
        "Text in a step's configuration cannot hold NUL characters or unpaired surrogates."
    ]
    assert alice_api.get(f"/api/workflows/{workflow['id']}/").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "error"),
    [
        ("PATCH", "trigger/", {"\ud800": 1}, "validation_failed"),
        ("PUT", "trigger/signature/", {"scheme": "github", "\ud800": 1}, "validation_failed"),
        ("PUT", "trigger/filters/", {"\ud800": 1}, "filters_invalid"),
        ("POST", "trigger/filters/test/", {"filters": {"\ud800": 1}}, "filters_invalid"),
    ],
)
def test_an_error_that_echoes_an_unpaired_surrogate_is_still_json(
    alice_api: APIClient, method: str, path: str, body: dict[str, Any], error: str
) -> None:
    workflow = create_workflow(alice_api, publish=False)
    response = send_json(alice_api, method, f"/api/workflows/{workflow['id']}/{path}", body)
    assert response.status_code == 400
    assert response.json()["error"] == error
    # ASCII JSON: the unpaired surrogate is echoed as an escape, and the body is valid UTF-8 JSON.
    assert "\\ud800" in response.content.decode("utf-8")


def test_a_sample_with_an_unpaired_surrogate_is_shown_exactly(
    alice_api: APIClient,
) -> None:
    workflow = create_workflow(alice_api, publish=False)
    url = f"/api/workflows/{workflow['id']}/trigger/"
    body = {"kind": "sample", "samples": [{"a\ud800": "b\udc00"}]}
    response = send_json(alice_api, "PUT", url + "schema/", body)
    assert response.status_code == 200, response.content
    assert response.json()["payload_schema"]["samples"] == [{"a\ud800": "b\udc00"}]
    assert alice_api.get(url).status_code == 200
    assert alice_api.get(f"/api/workflows/{workflow['id']}/").status_code == 200


def test_a_forged_cursor_is_a_404_not_a_crash(alice_api: APIClient) -> None:
    import base64
    from urllib.parse import quote

    forged = quote(base64.b64encode(b"p=abc").decode())
    response = alice_api.get(f"/api/workflows/?cursor={forged}")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
