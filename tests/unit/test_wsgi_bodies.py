"""Bodies as a real WSGI server hands them over: chunked bodies must never pass for empty ones."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler
from rest_framework.test import APIClient

from tests.support.builders import create_workflow, webhook_path
from triggers.models import Delivery

pytestmark = pytest.mark.django_db


def call(path: str, body: bytes, *, terminated: bool) -> tuple[str, bytes]:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input_terminated": terminated,
        "wsgi.errors": io.StringIO(),
    }
    status: list[str] = []

    def start_response(line: str, headers: Any, exc_info: Any = None) -> Any:
        status.append(line)

    chunks = WSGIHandler()(environ, start_response)
    return status[0], b"".join(chunks)


@pytest.fixture
def path(alice_api: APIClient) -> Any:
    return webhook_path(create_workflow(alice_api))


def test_a_dechunked_body_is_read_and_refused_without_a_schema(path: str) -> None:
    status, _ = call(path, b'{"x": 1}', terminated=True)
    assert status.startswith("422")
    assert bytes(Delivery.objects.get().body) == b'{"x": 1}'


def test_a_chunked_body_the_server_cannot_dechunk_gets_411(path: str) -> None:
    status, body = call(path, b'{"x": 1}', terminated=False)
    assert status.startswith("411")
    assert b"length_required" in body
