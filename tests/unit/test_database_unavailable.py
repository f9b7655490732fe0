"""With the database unreachable, the webhook and the API answer 503 with Retry-After, never 500."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from django.db import OperationalError, connection
from django.test import Client
from rest_framework.test import APIClient

from tests.support.builders import create_workflow, webhook_path
from triggers.models import Delivery
from workflows.models import Run

pytestmark = pytest.mark.django_db


@contextlib.contextmanager
def database_gone() -> Iterator[None]:
    """Every query fails as a lost connection does.

    Mocked because the unit tier's in-memory SQLite cannot be made unreachable (Django keeps that
    connection open on purpose). The fault suite (tests/faults) restarts a real PostgreSQL instead.
    """

    def refuse(*args: object, **kwargs: object) -> None:
        raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")

    with connection.execute_wrapper(refuse):
        yield


def test_a_webhook_gets_503_with_retry_after_and_nothing_is_stored(alice_api: APIClient) -> None:
    workflow = create_workflow(alice_api, steps=[])
    with database_gone():
        response = Client().generic("POST", webhook_path(workflow), b"")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"] == "service_unavailable"
    assert Delivery.objects.count() == 0
    assert Run.objects.count() == 0
    # And once it is back, the same request is accepted.
    assert Client().generic("POST", webhook_path(workflow), b"").status_code == 202


def test_the_api_gets_503_too(alice_api: APIClient) -> None:
    create_workflow(alice_api, steps=[])
    with database_gone():
        response = alice_api.get("/api/workflows/")
    assert response.status_code == 503
    assert response.json()["error"] == "service_unavailable"
