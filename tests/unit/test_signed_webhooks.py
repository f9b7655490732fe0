"""Signed inbound webhooks at the endpoint: on top of the URL key, checked over the raw body."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.support.builders import create_workflow, webhook_path
from triggers.models import Delivery, WebhookTrigger

pytestmark = pytest.mark.django_db

SECRET = "gh-secret-123"
BODY = json.dumps({"action": "opened", "number": 7}).encode()


def github_signature(secret: str, body: bytes) -> str:
    """GitHub's documented scheme, written independently of the product's code."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def workflow(alice_api: APIClient) -> dict[str, Any]:
    workflow = create_workflow(alice_api, publish=False)
    alice_api.put(
        f"/api/workflows/{workflow['id']}/trigger/schema/",
        {"kind": "sample", "samples": [json.loads(BODY)]},
        format="json",
    )
    alice_api.post(f"/api/workflows/{workflow['id']}/publish/")
    response = alice_api.put(
        f"/api/workflows/{workflow['id']}/trigger/signature/",
        {"scheme": "github", "secrets": [SECRET]},
        format="json",
    )
    assert response.status_code == 200, response.content
    return workflow


def post(client: Client, workflow: dict[str, Any], body: bytes, signature: str | None) -> Any:
    extra: dict[str, Any] = {"HTTP_X_HUB_SIGNATURE_256": signature} if signature else {}
    return client.generic("POST", webhook_path(workflow), body, "application/json", **extra)


def test_a_correctly_signed_request_is_accepted_without_republishing(
    client: Client, workflow: dict[str, Any]
) -> None:
    assert post(client, workflow, BODY, github_signature(SECRET, BODY)).status_code == 202


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (None, "missing header X-Hub-Signature-256"),
        (github_signature("wrong", BODY), "signature does not match"),
        (github_signature(SECRET, BODY + b" "), "signature does not match"),
        ("sha256=zz", "X-Hub-Signature-256"),
    ],
)
def test_a_bad_signature_is_401_and_logged(
    client: Client, workflow: dict[str, Any], signature: str | None, reason: str
) -> None:
    response = post(client, workflow, BODY, signature)
    assert response.status_code == 401
    assert response.json()["error"] == "signature_invalid"
    assert reason in response.json()["detail"]
    assert Delivery.objects.get().error == "signature_invalid"


def test_the_secret_is_write_only_and_encrypted(
    alice_api: APIClient, client: Client, workflow: dict[str, Any]
) -> None:
    shown = alice_api.get(f"/api/workflows/{workflow['id']}/trigger/").json()["signature"]
    assert shown["scheme"] == "github" and shown["set"] == {"secrets": True}
    assert SECRET not in json.dumps(shown)
    assert SECRET not in json.dumps(WebhookTrigger.objects.get().signature)
    # Sent back as shown, the masked secret keeps its value: the check still passes.
    alice_api.put(f"/api/workflows/{workflow['id']}/trigger/signature/", shown, format="json")
    assert post(client, workflow, BODY, github_signature(SECRET, BODY)).status_code == 202


def test_an_invalid_signature_config_is_refused_by_field(
    alice_api: APIClient, workflow: dict[str, Any]
) -> None:
    response = alice_api.put(
        f"/api/workflows/{workflow['id']}/trigger/signature/", {"scheme": "stripe"}, format="json"
    )  # a new scheme keeps no stored secret, so it needs its own
    assert response.status_code == 400
    assert "signature.secrets" in response.json()["fields"]


def test_turning_the_check_off(alice_api: APIClient, client: Client, workflow: dict[str, Any]) -> None:
    alice_api.put(f"/api/workflows/{workflow['id']}/trigger/signature/", {"scheme": "none"}, format="json")
    assert post(client, workflow, BODY, None).status_code == 202
