"""orchestrator/webhook_route.py answers webhooks in front of the middleware stack: every answer must be
the one the whole stack gives, status, headers and body."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any
from unittest import mock

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import OperationalError
from rest_framework.test import APIClient

from orchestrator.webhook_route import WebhookRoute
from tests.support.builders import create_workflow, webhook_path
from triggers.models import Delivery

pytestmark = pytest.mark.django_db

STACK = WSGIHandler()
ROUTE = WebhookRoute(STACK)


@dataclass
class Answer:
    status: str
    headers: dict[str, str]
    body: bytes
    finished: bool  # request_finished was sent

    def json(self) -> Any:
        return json.loads(self.body)


def call(app: Any, path: str, *, method: str = "POST", body: bytes = b"", **extra: str) -> Answer:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "HTTP_HOST": "127.0.0.1:8000",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        **extra,
    }
    started: list[Any] = []
    finished: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append((status, dict(headers)))

    from django.core import signals

    def on_finished(**_: Any) -> None:
        finished.append(True)

    signals.request_finished.connect(on_finished)
    try:
        chunks = app(environ, start_response)
        content = b"".join(chunks)
        chunks.close()
    finally:
        signals.request_finished.disconnect(on_finished)
    ((status, headers),) = started
    return Answer(status, headers, content, bool(finished))


def both(path: str, **kwargs: Any) -> tuple[Answer, Answer]:
    return call(STACK, path, **kwargs), call(ROUTE, path, **kwargs)


def same(stack: Answer, route: Answer, *, ignore: tuple[str, ...] = ()) -> None:
    assert route.status == stack.status
    assert route.headers == stack.headers
    assert route.finished and stack.finished
    stack_body, route_body = stack.json(), route.json()
    for key in ignore:
        stack_body.pop(key), route_body.pop(key)
    assert route_body == stack_body


@pytest.fixture
def path(alice_api: APIClient) -> str:
    return webhook_path(create_workflow(alice_api))


def test_an_accepted_webhook(path: str) -> None:
    stack, route = both(path)
    assert route.status == "202 Accepted"
    same(stack, route, ignore=("run_id",))
    assert route.json()["run_id"] != stack.json()["run_id"]
    assert Delivery.objects.filter(outcome="accepted").count() == 2


def test_without_the_trailing_slash(path: str) -> None:
    same(*both(path.rstrip("/")), ignore=("run_id",))


@pytest.mark.parametrize(
    "case",
    [
        {"method": "GET"},  # 405 with Allow
        {"body": b'{"a": 1}', "CONTENT_TYPE": "application/json"},  # 422: no schema, no body
        {"CONTENT_LENGTH": "99999999"},  # 413
    ],
)
def test_refusals(path: str, case: dict[str, Any]) -> None:
    stack, route = both(path, **case)
    assert route.status[0] == "4"
    same(stack, route)


def test_unknown_urls_and_wrong_keys(path: str) -> None:
    same(*both("/hooks/nosuchtrigger/somekey/"))
    same(*both(path.rstrip("/").rsplit("/", 1)[0] + "/wrong-key/"))


def test_a_host_that_is_not_allowed_is_answered_by_django(path: str) -> None:
    stack, route = both(path, HTTP_HOST="evil.example")
    assert route.status.startswith("400")
    assert (route.status, route.headers, route.body) == (stack.status, stack.headers, stack.body)
    assert not Delivery.objects.exists()


def test_https_settings_apply(path: str, settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    # Middleware read their settings when built, as a server's application is, once.
    stack_app = WSGIHandler()
    route_app = WebhookRoute(stack_app)
    stack, route = call(stack_app, path), call(route_app, path)
    assert route.status.startswith("301")
    assert (route.status, route.headers) == (stack.status, stack.headers)
    secure: dict[str, Any] = {"wsgi.url_scheme": "https", "SERVER_PORT": "443"}
    stack, route = call(stack_app, path, **secure), call(route_app, path, **secure)
    assert route.headers["Strict-Transport-Security"] == "max-age=3600"
    same(stack, route, ignore=("run_id",))


def test_other_paths_go_to_django() -> None:
    stack, route = both("/api/workflows/", method="GET")
    assert route.status.startswith("401")
    assert (route.status, route.headers, route.body) == (stack.status, stack.headers, stack.body)


def test_an_unreachable_database_is_a_503(path: str) -> None:
    # Mocked: the unit tier's SQLite cannot be taken away mid-request (the fault suite stops a real
    # PostgreSQL under load, through gunicorn and this route).
    with mock.patch("triggers.views.webhook_receive", side_effect=OperationalError("gone")):
        stack, route = both(path)
    assert route.status.startswith("503")
    same(stack, route)


def test_a_bug_is_a_json_500_that_does_not_log_the_key(path: str, caplog: pytest.LogCaptureFixture) -> None:
    # Mocked: a bug cannot be produced on purpose; the answer to one must still be JSON, key-free.
    key = path.rstrip("/").rsplit("/", 1)[1]
    with mock.patch("triggers.views.webhook_receive", side_effect=RuntimeError("boom")):
        route = call(ROUTE, path)
    assert route.status.startswith("500")
    assert route.json()["error"] == "server_error"
    assert route.finished
    assert "boom" in caplog.text and key not in caplog.text
