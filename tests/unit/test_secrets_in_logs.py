"""Webhook keys travel in URLs; they must not travel into logs with them."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from django.test import Client
from rest_framework.test import APIClient

from orchestrator.logredact import RedactWebhookKeys, redact
from tests.support.builders import create_workflow, webhook_path


def test_redact_keeps_the_trigger_id_and_hides_the_key() -> None:
    line = 'POST /hooks/abc_DEF-123/s3cr3tKEY-value HTTP/1.1" 422'
    assert redact(line) == 'POST /hooks/abc_DEF-123/[redacted] HTTP/1.1" 422'


def test_the_filter_rewrites_formatted_messages() -> None:
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Bad: %s", ("/hooks/a/key",), None
    )
    RedactWebhookKeys().filter(record)
    assert record.getMessage() == "Bad: /hooks/a/[redacted]"


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What the configured console handler writes, as the process's log would show it."""
    (handler,) = [
        h for h in logging.getLogger().handlers if any(isinstance(f, RedactWebhookKeys) for f in h.filters)
    ]
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


@pytest.mark.django_db
def test_a_rejected_webhook_logs_no_key(alice_api: APIClient, client: Client, console: io.StringIO) -> None:
    workflow = create_workflow(alice_api)
    path = webhook_path(workflow)
    key = path.rsplit("/", 1)[1]
    assert client.post(path, {"x": 1}, content_type="application/json").status_code == 422
    assert client.get(path).status_code == 405
    logged = console.getvalue()
    assert "Unprocessable Entity: /hooks/" in logged  # the request was logged ...
    assert key not in logged  # ... without its key


def test_gunicorns_access_log_redacts_the_key() -> None:
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config

    from orchestrator.gunicorn_logging import RedactingLogger

    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": "/hooks/abc/SECRETKEY123",
        "PATH_INFO": "/hooks/abc/SECRETKEY123",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "QUERY_STRING": "",
    }
    response = SimpleNamespace(status="202 Accepted", sent=10, headers=[])
    atoms = RedactingLogger(Config()).atoms(response, SimpleNamespace(headers=[]), environ, timedelta(0))
    assert atoms["r"] == "POST /hooks/abc/[redacted] HTTP/1.1"
    assert "SECRETKEY123" not in str(atoms)


def test_query_string_values_are_redacted_wherever_a_url_is_logged() -> None:
    line = '127.0.0.1:8000 "POST /notify?api_key=s3cr3t&mode=x HTTP/1.1" 200 /hooks/AbC-12/k3y?token=t0k'
    cleaned = redact(line)
    assert "s3cr3t" not in cleaned and "t0k" not in cleaned and "k3y" not in cleaned
    assert "/notify?api_key=[redacted]&mode=[redacted]" in cleaned
