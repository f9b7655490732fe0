"""Webhook keys travel in URLs; they must not travel into logs with them."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import pytest
from django.test import Client
from gunicorn.config import Config
from gunicorn.glogging import Logger
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


# Every atom gunicorn offers a custom access log format, the key in all that can hold it.
ALL_ATOMS = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(m)s %(U)s %(q)s %(H)s %(B)s '
    "%(p)s %({raw_uri}e)s %({PATH_INFO}e)s %({referer}i)s %({location}o)s %({absent}i)s %(zz)s"
)


def _access_lines(log_format: str, logger_class: type[Logger]) -> list[str]:
    from datetime import timedelta
    from types import SimpleNamespace

    config = Config()
    config.set("accesslog", "-")
    config.set("access_log_format", log_format)
    logger = logger_class(config)
    lines: list[str] = []
    capture = logging.Handler()
    capture.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logger.access_log.handlers = [capture]
    path = "/hooks/abc/SECRETKEY123?token=T0KEN"
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": path,
        "PATH_INFO": "/hooks/abc/SECRETKEY123",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "QUERY_STRING": "token=T0KEN",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": f"https://example.test{path}",
        "HTTP_USER_AGENT": 'Say "hi"',
    }
    request = SimpleNamespace(headers=[("Referer", environ["HTTP_REFERER"]), ("User-Agent", 'Say "hi"')])
    response = SimpleNamespace(status="202 Accepted", sent=10, headers=[("Location", path)])
    logger.access(response, request, environ, timedelta(microseconds=1500))
    return lines


@pytest.mark.parametrize("log_format", [Config().access_log_format, ALL_ATOMS], ids=["default", "every atom"])
def test_gunicorns_access_log_redacts_the_key(log_format: str) -> None:
    from orchestrator.gunicorn_logging import RedactingLogger

    [line] = _access_lines(log_format, RedactingLogger)
    assert "SECRETKEY123" not in line and "T0KEN" not in line
    assert '"POST /hooks/abc/[redacted]?token=[redacted] HTTP/1.1" 202 10' in line
    # gunicorn's own line, timestamps aside, with the key and the query's values redacted.
    [plain] = _access_lines(log_format, Logger)
    assert "SECRETKEY123" in plain  # what there was to redact
    expected = redact(plain).replace(" token=T0KEN ", " token=[redacted] ")  # %(q)s: a bare query
    assert _no_time(line) == _no_time(expected)


def _no_time(line: str) -> str:
    return re.sub(r"\[[^\]]*\d{2}:\d{2}:\d{2}[^\]]*\]", "[time]", line)


@pytest.mark.django_db
@pytest.mark.parametrize("uri", ["/hook%73/abc/SECRET", "/hooks/abc%2FSECRET", "/hooks%2fabc/SECRET?a=1"])
def test_a_percent_encoded_webhook_path_is_redacted_too(uri: str, client: Client) -> None:
    # Each of these reaches a webhook (the server decodes the path once); access logs print it raw.
    assert client.post(uri).status_code == 404  # routed as /hooks/abc/SECRET: no such trigger
    line = f'127.0.0.1 - - "POST {uri} HTTP/1.1" 404 -'
    cleaned = redact(line)
    assert "SECRET" not in cleaned and "/hooks/abc/[redacted]" in cleaned, cleaned
    # Decoding must not let a line pass for two.
    assert "\n" not in redact("POST /hook%73/abc/KEY%0A127.0.0.1 forged HTTP/1.1")


def test_query_string_values_are_redacted_wherever_a_url_is_logged() -> None:
    line = '127.0.0.1:8000 "POST /notify?api_key=s3cr3t&mode=x HTTP/1.1" 200 /hooks/AbC-12/k3y?token=t0k'
    cleaned = redact(line)
    assert "s3cr3t" not in cleaned and "t0k" not in cleaned and "k3y" not in cleaned
    assert "/notify?api_key=[redacted]&mode=[redacted]" in cleaned
