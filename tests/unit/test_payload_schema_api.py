"""Setting a trigger's payload schema through the API, and the preview the user sees after saving."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.support.builders import create_workflow, webhook_path

pytestmark = pytest.mark.django_db


@pytest.fixture
def workflow(alice_api: APIClient) -> dict[str, Any]:
    return create_workflow(alice_api)


def put_schema(api: APIClient, workflow: dict[str, Any], body: dict[str, Any]) -> Any:
    return api.put(f"/api/workflows/{workflow['id']}/trigger/schema/", body, format="json")


def test_a_sample_sets_an_inferred_schema_and_a_preview(
    alice_api: APIClient, workflow: dict[str, Any]
) -> None:
    sample = {"action": "opened", "issue": {"title": "Bug", "labels": [{"name": "bug"}]}}
    response = put_schema(alice_api, workflow, {"kind": "sample", "samples": [sample]})
    assert response.status_code == 200
    schema = response.json()["payload_schema"]
    assert schema["kind"] == "sample" and schema["samples"] == [sample]
    assert schema["schema"]["type"] == "object"
    paths = {node["path"]: node for node in flatten(schema["preview"])}
    assert paths["issue.title"]["example"] == "Bug"
    assert "string" in paths["issue.labels[*].name"]["types"]
    shown = alice_api.get(f"/api/workflows/{workflow['id']}/").json()["trigger"]["payload_schema"]
    assert shown == schema


def test_a_json_schema_is_kept_as_given(alice_api: APIClient, workflow: dict[str, Any]) -> None:
    given = {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}
    response = put_schema(alice_api, workflow, {"kind": "json_schema", "schema": given})
    assert response.json()["payload_schema"]["schema"] == given
    assert response.json()["payload_schema"]["preview"][0]["required"] is True


def test_an_invalid_schema_is_refused_with_the_path_of_the_problem(
    alice_api: APIClient, workflow: dict[str, Any]
) -> None:
    bad = {"properties": {"age": {"type": "strin"}}}
    response = put_schema(alice_api, workflow, {"kind": "json_schema", "schema": bad})
    assert response.status_code == 400
    assert response.json()["error"] == "schema_invalid"
    assert response.json()["path"] == "/schema/properties/age/type"


def test_a_remote_ref_is_refused_and_nothing_is_fetched(
    alice_api: APIClient, workflow: dict[str, Any], receiver: Any
) -> None:
    remote = {"$ref": f"{receiver.url}/schema.json"}
    response = put_schema(alice_api, workflow, {"kind": "json_schema", "schema": remote})
    assert response.status_code == 400
    assert response.json()["path"] == "/schema/$ref"
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"kind": "sample", "samples": []}, "/samples"),
        ({"kind": "sample"}, "/samples"),
        ({"kind": "json_schema", "schema": "x"}, "/schema"),
        ({"kind": "xml"}, "/kind"),
    ],
)
def test_malformed_requests_name_the_field(
    alice_api: APIClient, workflow: dict[str, Any], body: dict[str, Any], path: str
) -> None:
    response = put_schema(alice_api, workflow, body)
    assert (response.status_code, response.json()["path"]) == (400, path)


def test_the_schema_takes_effect_only_when_published(
    alice_api: APIClient, client: Client, workflow: dict[str, Any]
) -> None:
    put_schema(alice_api, workflow, {"kind": "sample", "samples": [{"a": 1}]})
    body = b'{"a": 2}'
    assert (
        client.generic("POST", webhook_path(workflow), body, content_type="application/json").status_code
        == 422
    )
    assert alice_api.get(f"/api/workflows/{workflow['id']}/").json()["has_unpublished_changes"] is True
    alice_api.post(f"/api/workflows/{workflow['id']}/publish/")
    assert (
        client.generic("POST", webhook_path(workflow), body, content_type="application/json").status_code
        == 202
    )
    put_schema(alice_api, workflow, {"kind": "none"})
    alice_api.post(f"/api/workflows/{workflow['id']}/publish/")
    assert (
        client.generic("POST", webhook_path(workflow), body, content_type="application/json").status_code
        == 422
    )
    assert client.generic("POST", webhook_path(workflow)).status_code == 202


def test_a_schema_with_nul_characters_is_stored_intact(
    alice_api: APIClient, workflow: dict[str, Any]
) -> None:
    given = {"const": "a\u0000b"}
    response = put_schema(alice_api, workflow, {"kind": "json_schema", "schema": given})
    assert response.json()["payload_schema"]["schema"] == given


def test_a_deeply_nested_api_body_is_a_400_not_a_crash(
    alice_api: APIClient, workflow: dict[str, Any]
) -> None:
    deep = b'{"kind": "sample", "samples": [' + b"[" * 5000 + b"]" * 5000 + b"]}"
    response = alice_api.generic(
        "PUT",
        f"/api/workflows/{workflow['id']}/trigger/schema/",
        deep.decode(),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["error"] == "parse_error"


def flatten(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for node in nodes:
        out.append(node)
        out.extend(flatten(node.get("children") or []))
    return out
