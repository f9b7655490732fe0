"""Helpers of tests/integration/test_bad_http_input.py: the server's environment, the triggers it posts
to, and what is checked after each malformed request."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rest_framework.test import APIClient

from tests.integration.gunicorn_server import (
    Answer,
    chunked,
    inherited_env,
    request_head,
)
from tests.integration.processes import RedisServer
from tests.support.builders import create_workflow, webhook_path
from triggers.models import Delivery, DeliveryOutcome
from workflows.models import Run

BODY_CAP = 64 * 1024
# The suggested bound on reading a request's body in gthread (see test_a_stalled_body...): set for the
# server already, so that the test passes as soon as orchestrator/gunicorn_conf.py reads it.
BODY_TIMEOUT_SECONDS = 2
# How long a client waits for a stalled connection to be ended: generous, only so that a server that
# never ends it fails the test instead of hanging it.
GIVE_UP_SECONDS = 5 * BODY_TIMEOUT_SECONDS
SAMPLE = {"action": "opened", "n": 1}
JSON_BODY = b'{"action": "opened", "n": 2}'


def server_env(redis_server: RedisServer, directory: Path, **extra: str) -> dict[str, str]:
    from django.db import connection

    # The test database exists now; the server must use it, not the database DATABASE_URL names.
    database_url = urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + connection.settings_dict["NAME"])
    return {
        **inherited_env(),
        "DATABASE_URL": database_url.geturl(),
        "CELERY_BROKER_URL": redis_server.url,
        "ORCHESTRATOR_VAR_DIR": str(directory / "var"),
        # The product's own settings, as deployed; tests.settings is for this process only.
        "DJANGO_SETTINGS_MODULE": "orchestrator.settings",
        "WEBHOOK_MAX_BODY_BYTES": str(BODY_CAP),
        "WEB_BODY_TIMEOUT": str(BODY_TIMEOUT_SECONDS),
        **extra,
    }


@dataclass(frozen=True)
class Hook:
    path: str
    workflow_id: int

    @property
    def public_id(self) -> str:
        return self.path.split("/")[2]


SCHEMAS = {
    "sample": {"kind": "sample", "samples": [SAMPLE]},
    # Every member an integer: an error's path then names the sender's key, whatever it is.
    "integers": {
        "kind": "json_schema",
        "schema": {"type": "object", "additionalProperties": {"type": "integer"}},
    },
}


def make_hook(api: APIClient, kind: str = "sample", **trigger_settings: Any) -> Hook:
    """A published webhook: ``plain`` (no schema, the body must be empty) or one of ``SCHEMAS``."""
    workflow = create_workflow(api, publish=False)
    base = f"/api/workflows/{workflow['id']}/trigger/"
    if kind in SCHEMAS:
        response = api.put(base + "schema/", SCHEMAS[kind], format="json")
        assert response.status_code == 200, response.content
    if trigger_settings:
        assert api.patch(base, trigger_settings, format="json").status_code == 200
    assert api.post(f"/api/workflows/{workflow['id']}/publish/").status_code == 200
    return Hook(webhook_path(api.get(f"/api/workflows/{workflow['id']}/").json()), workflow["id"])


def post(
    hook: Hook, body: bytes, *headers: tuple[str, Any], content_type: str | None = "application/json"
) -> bytes:
    """A POST to the hook with a Content-Length that matches ``body``."""
    head = [("Content-Type", content_type)] if content_type is not None else []
    return request_head("POST", hook.path, [*head, ("Content-Length", len(body)), *headers]) + body


def answer_json(answer: Answer) -> dict[str, Any]:
    assert answer.headers.get("content-type") == "application/json", answer.raw[:500]
    body: dict[str, Any] = json.loads(answer.body)
    return body


def deliveries(hook: Hook) -> list[Delivery]:
    return list(Delivery.objects.filter(workflow_id=hook.workflow_id).order_by("pk"))


def assert_nothing_half_stored(hook: Hook) -> None:
    """No run; and a delivery, if the refusal was logged at all, is a rejection holding none of the body."""
    assert not Run.objects.filter(workflow_id=hook.workflow_id).exists()
    for delivery in deliveries(hook):
        assert delivery.outcome == DeliveryOutcome.REJECTED, (delivery.outcome, delivery.status_code)
        assert bytes(delivery.body) == b"", bytes(delivery.body)


def assert_client_error(answer: Answer, status: int | None = None) -> dict[str, Any]:
    """A 4xx from the application: JSON with an error code."""
    assert answer.status is not None and 400 <= answer.status < 500, answer.raw[:500]
    if status is not None:
        assert answer.status == status, answer.raw[:500]
    body = answer_json(answer)
    assert isinstance(body.get("error"), str), body
    return body


def head_cases(path: str) -> list[tuple[str, bytes, int]]:
    """(case, request, the status gunicorn answers): gunicorn's defaults, which gunicorn_conf keeps."""
    ok = [("Content-Type", "application/json"), ("Content-Length", len(JSON_BODY))]
    return [
        ("request-line-over-4094", request_head("POST", path + "?" + "a" * 9000, ok) + JSON_BODY, 414),
        (
            "101-headers",
            request_head("POST", path, ok + [(f"X-H{i}", "v") for i in range(101)]) + JSON_BODY,
            431,
        ),
        ("header-over-8190", request_head("POST", path, [*ok, ("X-Big", "v" * 9000)]) + JSON_BODY, 431),
        (
            "content-length-and-chunked",
            request_head("POST", path, [*ok, ("Transfer-Encoding", "chunked")]) + chunked(JSON_BODY),
            400,
        ),
        ("two-content-lengths", request_head("POST", path, [*ok, ("Content-Length", 99)]) + JSON_BODY, 400),
        ("content-length-abc", request_head("POST", path, [("Content-Length", "abc")]) + JSON_BODY, 400),
        ("content-length-negative", request_head("POST", path, [("Content-Length", -1)]), 400),
        ("content-length-plus", request_head("POST", path, [("Content-Length", f"+{len(JSON_BODY)}")]), 400),
        ("transfer-encoding-identity", request_head("POST", path, [("Transfer-Encoding", "identity")]), 400),
        (
            "two-content-types",
            request_head("POST", path, [*ok, ("Content-Type", "text/plain")]) + JSON_BODY,
            400,
        ),
        ("nul-in-header", request_head("POST", path, [*ok, ("X-A", "a\x00b")]) + JSON_BODY, 400),
        ("space-before-colon", request_head("POST", path, [*ok, ("X-A ", "b")]) + JSON_BODY, 400),
        (
            "header-without-colon",
            request_head("POST", path, [*ok, ("X-A", "")]).replace(b"X-A: ", b"X-A"),
            400,
        ),
        ("obsolete-line-folding", request_head("POST", path, [*ok, ("X-A", "b\r\n c")]) + JSON_BODY, 400),
        ("bare-lf", request_head("POST", path, ok).replace(b"\r\n", b"\n") + JSON_BODY, 400),
        ("http-9.9", request_head("POST", path, ok).replace(b"HTTP/1.1", b"HTTP/9.9", 1) + JSON_BODY, 400),
        ("method-with-nul", b"P\x00ST" + request_head("POST", path, ok)[4:] + JSON_BODY, 400),
        ("lowercase-method", b"post" + request_head("POST", path, ok)[4:] + JSON_BODY, 400),
    ]
