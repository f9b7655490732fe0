"""Payloads at the webhook: parsing, schema validation, and every bad body's clear 4xx."""

from __future__ import annotations

import contextlib
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.support.builders import create_workflow, webhook_path
from triggers.models import Delivery
from workflows.models import Run

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "senders"


def with_schema(api: APIClient, body: dict[str, Any]) -> str:
    workflow = create_workflow(api, publish=False)
    assert api.put(f"/api/workflows/{workflow['id']}/trigger/schema/", body, format="json").status_code == 200
    assert api.post(f"/api/workflows/{workflow['id']}/publish/").status_code == 200
    return webhook_path(workflow)


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail the test instead of hanging it (SIGALRM: the request must run in this thread, for SQLite)."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def post(client: Client, path: str, body: bytes, content_type: str = "application/json") -> Any:
    return client.generic("POST", path, body, content_type=content_type)


@pytest.fixture
def object_path(alice_api: APIClient) -> str:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "title": {"type": "string"}}}
    return with_schema(alice_api, {"kind": "json_schema", "schema": schema})


def test_real_sender_payloads_pass_a_schema_inferred_from_one_of_them(
    alice_api: APIClient, client: Client
) -> None:
    for family in sorted(p for p in FIXTURES.glob("*/*") if p.is_dir()):
        first, *others = sorted(family.glob("*.json"))
        path = with_schema(alice_api, {"kind": "sample", "samples": [json.loads(first.read_bytes())]})
        for other in others:
            response = post(client, path, other.read_bytes())
            assert response.status_code == 202, (other.name, response.json())


def test_a_payload_that_does_not_match_gets_422_with_every_problem(client: Client, object_path: str) -> None:
    response = post(client, object_path, b'{"n": "seven", "title": 5}')
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "payload_invalid"
    assert [e["path"] for e in body["errors"]] == ["/n", "/title"]
    assert "/n" in body["detail"]
    delivery = Delivery.objects.get()
    assert (delivery.detail or {})["errors"] == body["errors"]
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    ("body", "content_type", "status", "error"),
    [
        (b'{"n": 1', "application/json", 400, "invalid_json"),
        (b'{"title": "\xff\xfe"}', "application/json", 400, "invalid_encoding"),
        (b'{"n": NaN}', "application/json", 400, "invalid_json"),
        (b'{"n": Infinity}', "application/json", 400, "invalid_json"),
        (b"[" * 65 + b"]" * 65, "application/json", 400, "too_deep"),
        (b"[" * 100_000, "application/json", 400, "too_deep"),
        (json.dumps({str(i): i for i in range(10_001)}).encode(), "application/json", 400, "too_many_keys"),
        (b"<n>1</n>", "application/xml", 415, "unsupported_media_type"),
        (b"n=1", "text/plain", 415, "unsupported_media_type"),
        (b'{"n": 1}', "application/json; charset=latin-1", 415, "unsupported_charset"),
        (b"", "application/json", 422, "body_required"),
        (b"  \n", "application/json", 422, "body_required"),
    ],
)
def test_bad_bodies_get_their_documented_4xx(
    client: Client, object_path: str, body: bytes, content_type: str, status: int, error: str
) -> None:
    response = post(client, object_path, body, content_type)
    assert (response.status_code, response.json()["error"]) == (status, error)
    assert response.json()["detail"]
    assert Delivery.objects.get().error == error


def test_vendor_json_types_and_a_bom_are_accepted(client: Client, object_path: str) -> None:
    assert post(client, object_path, b'{"n": 1}', "application/vnd.api+json").status_code == 202
    assert (
        post(client, object_path, b'\xef\xbb\xbf{"n": 1}', "application/json; charset=UTF-8").status_code
        == 202
    )


def test_form_bodies_become_objects_of_strings(alice_api: APIClient, client: Client) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}, "tag": {"type": "array"}}}
    path = with_schema(alice_api, {"kind": "json_schema", "schema": schema})
    response = post(client, path, b"a=1&tag=x&tag=y", "application/x-www-form-urlencoded")
    assert response.status_code == 202
    run = alice_api.get(f"/api/runs/{response.json()['run_id']}/").json()
    assert run["trigger"]["body"] == {"a": "1", "tag": ["x", "y"]}


def test_big_integers_keep_their_exact_value(alice_api: APIClient, client: Client) -> None:
    path = with_schema(alice_api, {"kind": "sample", "samples": [{"id": 1}]})
    big = 2**200 + 1
    response = post(client, path, f'{{"id": {big}}}'.encode())
    assert response.status_code == 202
    run = Run.objects.get(pk=response.json()["run_id"])
    from triggers.payload import trigger_data

    assert trigger_data(delivery=run.delivery)["body"]["id"] == big


def test_a_catastrophic_pattern_is_rejected_promptly_never_accepted(
    alice_api: APIClient, client: Client
) -> None:
    schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": "^(a+)+$"}}}
    path = with_schema(alice_api, {"kind": "json_schema", "schema": schema})
    crafted = json.dumps({"s": "a" * 50_000 + "!"}).encode()
    with deadline(30):  # a liveness bound: a backtracking engine would take longer than the universe
        response = post(client, path, crafted)
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == "/s"


def test_a_pattern_the_linear_engine_cannot_run_is_refused_at_save(alice_api: APIClient) -> None:
    workflow = create_workflow(alice_api, publish=False)
    schema = {"properties": {"s": {"pattern": "^(a)\\1$"}}}
    response = alice_api.put(
        f"/api/workflows/{workflow['id']}/trigger/schema/",
        {"kind": "json_schema", "schema": schema},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["path"] == "/schema/properties/s/pattern"
