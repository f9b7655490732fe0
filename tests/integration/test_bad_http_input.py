"""Malformed HTTP against a real gunicorn, over raw sockets on 127.0.0.1.

gunicorn runs as README documents for production (``-c python:orchestrator.gunicorn_conf``, its default
2 workers x 4 threads, so the gthread worker) against this session's PostgreSQL test database; the tests
write their workflows through the API in this process (committed: transactional_db), then send what no
HTTP library would: bodies cut short of their Content-Length, bodies that stall, broken chunked
encoding, heads over gunicorn's limits, wrong and missing content types, bodies over the size cap with
and without a Content-Length. Each test checks the status line and that the delivery and run tables
hold no half-stored rows: no run, no accepted delivery, and no delivery holding part of a body.

Webhook bodies are capped at ``BODY_CAP`` here (``WEBHOOK_MAX_BODY_BYTES``), so the big ones stay small.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rest_framework.test import APIClient

from tests.integration.bad_http import (
    BODY_CAP,
    GIVE_UP_SECONDS,
    JSON_BODY,
    Hook,
    answer_json,
    assert_client_error,
    assert_nothing_half_stored,
    deliveries,
    head_cases,
    make_hook,
    post,
    server_env,
)  # fmt: skip
from tests.integration.gunicorn_server import (
    Answer,
    GunicornServer,
    chunked,
    read_answer,
    request_head,
)
from tests.integration.processes import RedisServer
from triggers.models import DeliveryOutcome
from workflows.models import Run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def sync_server(
    django_db_setup: None, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GunicornServer]:
    """One thread per worker (gunicorn's sync worker), with a short worker timeout."""
    directory = tmp_path_factory.mktemp("gunicorn-sync")
    # A body timeout (see WEB_BODY_TIMEOUT above) far beyond --timeout: the worker timeout acts first.
    env = server_env(redis_server, directory, WEB_WORKERS="1", WEB_THREADS="1", WEB_BODY_TIMEOUT="60")
    with GunicornServer(env, directory, args=["--timeout", "2"]) as running:
        yield running


@pytest.fixture
def hook(alice_api: APIClient) -> Hook:
    return make_hook(alice_api)


# --- what a well-formed request gets: the control for everything below ----------------------------


@pytest.mark.parametrize("transport", ["content-length", "chunked"])
def test_a_complete_request_is_accepted_and_stored_byte_for_byte(
    server: GunicornServer, hook: Hook, transport: str
) -> None:
    if transport == "chunked":
        head = [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]
        request = request_head("POST", hook.path, head) + chunked(JSON_BODY, size=5)
    else:
        request = post(hook, JSON_BODY)
    answer = server.exchange(request)
    assert answer.status == 202, answer.raw[:500]
    run_id = answer_json(answer)["run_id"]
    run = Run.objects.select_related("delivery").get(pk=run_id)
    assert run.delivery is not None
    assert (run.status, run.delivery.outcome, bytes(run.delivery.body)) == ("queued", "accepted", JSON_BODY)


# --- bodies that end before they should -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "sent", "declared"),
    [
        ("sample", JSON_BODY, len(JSON_BODY) + 20),  # the part that arrived is itself valid JSON
        ("plain", b"", 20),  # nothing arrived: reads as the empty body a plain trigger accepts
    ],
)
def test_a_body_cut_short_of_its_content_length_is_refused_and_not_stored(
    server: GunicornServer, alice_api: APIClient, kind: str, sent: bytes, declared: int
) -> None:
    hook = make_hook(alice_api, kind)
    head = [("Content-Type", "application/json"), ("Content-Length", declared)]
    # Half-close: the server reads the end of the stream where the body should go on, and can answer.
    answer = server.exchange(request_head("POST", hook.path, head) + sent)
    assert_client_error(answer, 400)
    assert_nothing_half_stored(hook)


def test_a_client_that_hangs_up_mid_body_leaves_nothing_behind(server: GunicornServer, hook: Hook) -> None:
    head = [("Content-Type", "application/json"), ("Content-Length", len(JSON_BODY) + 100)]
    with server.connect(timeout=30) as sock:
        sock.sendall(request_head("POST", hook.path, head) + JSON_BODY)
    # Closed without reading an answer: wait until the server has finished with the request.
    (status,) = server.wait_for_served(hook.public_id, 1)
    assert 400 <= status < 500, status
    assert_nothing_half_stored(hook)


def test_a_chunked_body_cut_off_mid_chunk_is_a_400(server: GunicornServer, hook: Hook) -> None:
    head = [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]
    # The chunk announces 0x40 bytes; the client sends fewer and says it is done.
    answer = server.exchange(request_head("POST", hook.path, head) + b"40\r\n" + JSON_BODY)
    assert_client_error(answer, 400)
    assert_nothing_half_stored(hook)


# --- broken chunked encoding ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encoded",
    [
        pytest.param(b"zz\r\n" + JSON_BODY + b"\r\n0\r\n\r\n", id="size-not-hex"),
        pytest.param(b"FFFFFFFFFFFFFFFFFFFF\r\n" + JSON_BODY + b"\r\n0\r\n\r\n", id="size-absurd"),
        pytest.param(b"-1c\r\n" + JSON_BODY + b"\r\n0\r\n\r\n", id="size-negative"),
        pytest.param(b"%x\r\n" % len(JSON_BODY) + JSON_BODY + b"XX0\r\n\r\n", id="no-crlf-after-data"),
        pytest.param(b"%x;a=\x01\r\n" % len(JSON_BODY) + JSON_BODY + b"\r\n0\r\n\r\n", id="bad-extension"),
        pytest.param(b"%x\r\n" % len(JSON_BODY) + JSON_BODY + b"\r\n0\r\nno colon\r\n\r\n", id="bad-trailer"),
        pytest.param(b"1" * 9000 + b"\r\n", id="size-line-too-long"),
    ],
)
def test_invalid_chunked_encoding_is_a_400_and_stores_nothing(
    server: GunicornServer, hook: Hook, encoded: bytes
) -> None:
    head = [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]
    answer = server.exchange(request_head("POST", hook.path, head) + encoded)
    assert_client_error(answer, 400)
    assert_nothing_half_stored(hook)


# --- bodies that stall ------------------------------------------------------------------------------


def stall(server: GunicornServer, hook: Hook) -> Answer:
    """Send the head and part of the body, then nothing: no more bytes, no close."""
    head = [("Content-Type", "application/json"), ("Content-Length", len(JSON_BODY))]
    with server.connect(timeout=GIVE_UP_SECONDS) as sock:
        sock.sendall(request_head("POST", hook.path, head) + JSON_BODY[:10])
        return read_answer(sock)


def test_a_stalled_body_is_cut_off_by_the_sync_worker_timeout_and_stores_nothing(
    sync_server: GunicornServer, hook: Hook
) -> None:
    """gunicorn's sync worker (threads=1): a worker silent past --timeout is aborted mid-read.

    gunicorn itself then answers its own HTML 500 (the abort is a SystemExit in the worker), if the
    client is still there to read it; the application never answered, and nothing was stored."""
    answer = stall(sync_server, hook)
    assert answer.ended, "the server kept a stalled connection open"
    assert answer.status in (None, 500), answer.raw[:500]
    assert answer.headers.get("content-type") in (None, "text/html"), answer.raw[:500]
    assert deliveries(hook) == []
    assert not Run.objects.filter(workflow_id=hook.workflow_id).exists()
    # The worker was replaced: the server still answers.
    assert sync_server.exchange(post(hook, JSON_BODY)).status == 202


def test_a_stalled_body_does_not_hold_a_production_thread_forever(server: GunicornServer, hook: Hook) -> None:
    try:
        answer = stall(server, hook)
    finally:
        # Hanging up (stall() closes its connection) lets a thread that was still waiting go on: let it
        # finish, so that it cannot write this test's rows after the test has ended.
        server.wait_for_served(hook.public_id, 1)
    assert answer.ended, f"the connection was still open after {GIVE_UP_SECONDS} s"
    assert answer.status is None or 400 <= answer.status < 500, answer.raw[:500]
    assert_nothing_half_stored(hook)


# --- heads gunicorn refuses before the application sees them ----------------------------------------


HEAD_CASES = [case for case, _, _ in head_cases("/hooks/x/y")]


@pytest.mark.parametrize("case", HEAD_CASES)
def test_gunicorn_refuses_a_malformed_head_with_a_4xx_before_the_application(
    server: GunicornServer, hook: Hook, case: str
) -> None:
    (request, status) = next((r, s) for c, r, s in head_cases(hook.path) if c == case)
    answer = server.exchange(request)
    assert answer.status == status, answer.raw[:500]
    # gunicorn's own page, not the application's JSON: the request never reached Django.
    assert answer.headers.get("content-type") == "text/html", answer.raw[:500]
    assert deliveries(hook) == []
    assert not Run.objects.filter(workflow_id=hook.workflow_id).exists()


# --- bodies over the cap ----------------------------------------------------------------------------


def test_a_declared_length_over_the_cap_is_a_413_before_the_body_is_read(
    server: GunicornServer, hook: Hook
) -> None:
    head = [("Content-Type", "application/json"), ("Content-Length", BODY_CAP + 1)]
    answer = server.exchange(request_head("POST", hook.path, head) + b'{"action": "')
    assert answer_json(answer)["error"] == "payload_too_large"
    assert answer.status == 413
    (delivery,) = deliveries(hook)
    assert (delivery.outcome, delivery.status_code, bytes(delivery.body)) == ("rejected", 413, b"")
    assert delivery.body_size == BODY_CAP + 1
    assert_nothing_half_stored(hook)


def padded(size: int) -> bytes:
    head, tail = b'{"action": "opened", "pad": "', b'"}'
    return head + b"a" * (size - len(head) - len(tail)) + tail


@pytest.mark.parametrize(("size", "status"), [(BODY_CAP + 1, 413), (BODY_CAP, 202)])
def test_a_chunked_body_is_capped_while_it_is_read(
    server: GunicornServer, hook: Hook, size: int, status: int
) -> None:
    body = padded(size)
    head = [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]
    answer = server.exchange(request_head("POST", hook.path, head) + chunked(body, size=8192))
    assert answer.status == status, answer.raw[:500]
    if status == 413:
        assert answer_json(answer)["error"] == "payload_too_large"
        (delivery,) = deliveries(hook)
        assert (delivery.outcome, delivery.status_code, bytes(delivery.body)) == ("rejected", 413, b"")
        assert_nothing_half_stored(hook)
    else:
        (delivery,) = deliveries(hook)
        assert (delivery.outcome, bytes(delivery.body)) == ("accepted", body)
        assert Run.objects.filter(delivery=delivery).count() == 1


# --- content types ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "content_type", "body", "status", "error"),
    [
        ("sample", "text/plain", JSON_BODY, 415, "unsupported_media_type"),
        ("sample", "multipart/form-data; boundary=x", JSON_BODY, 415, "unsupported_media_type"),
        ("sample", "application/json; charset=iso-8859-1", JSON_BODY, 415, "unsupported_charset"),
        # obs-text: bytes 0x80-0xFF in a header value reach the application as latin-1.
        ("sample", "application/json; charset=\xff\xfe", JSON_BODY, 415, "unsupported_charset"),
        ("sample", "\x80\xff", JSON_BODY, 415, "unsupported_media_type"),
        ("sample", None, b"action=opened", 400, "invalid_json"),
        ("sample", "application/json", b"", 422, "body_required"),
        ("plain", "application/json", JSON_BODY, 422, "body_not_allowed"),
        ("plain", "text/plain", b"x", 422, "body_not_allowed"),
        # Accepted, as documented: no Content-Type is read as JSON; forms become objects of strings.
        ("sample", None, JSON_BODY, 202, None),
        ("sample", "application/x-www-form-urlencoded", b"action=opened", 202, None),
        ("plain", "text/plain", b"", 202, None),
    ],
)
def test_wrong_and_missing_content_types_get_the_documented_answer(
    server: GunicornServer,
    alice_api: APIClient,
    kind: str,
    content_type: str | None,
    body: bytes,
    status: int,
    error: str | None,
) -> None:
    hook = make_hook(alice_api, kind)
    answer = server.exchange(post(hook, body, content_type=content_type))
    assert answer.status == status, answer.raw[:500]
    (delivery,) = deliveries(hook)
    assert (delivery.status_code, delivery.content_type, bytes(delivery.body)) == (
        status,
        content_type or "",
        body,
    )
    if error is None:
        assert answer_json(answer) == {"run_id": Run.objects.get(delivery=delivery).pk, "status": "queued"}
    else:
        # Refused, and logged with the whole body as it came: nothing half-stored, no run.
        assert answer_json(answer)["error"] == delivery.error == error
        assert delivery.outcome == DeliveryOutcome.REJECTED
        assert not Run.objects.filter(workflow_id=hook.workflow_id).exists()


# --- text PostgreSQL cannot hold in a JSON column ---------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "trigger_settings", "body", "status"),
    [
        pytest.param(
            "sample",
            {"dedupe_field": "id"},
            b'{"action": "opened", "id": "\\u0000"}',
            202,
            id="delivery-id-nul",
        ),
        pytest.param(
            "sample",
            {"dedupe_field": "id"},
            b'{"action": "opened", "id": "\\ud800"}',
            202,
            id="delivery-id-lone-surrogate",
        ),
        pytest.param(
            "integers",
            {},
            b'{"n": 1, "\\u0000": "x"}',
            422,
            id="error-path-nul",
        ),
        pytest.param(
            "integers",
            {},
            b'{"n": 1, "\\ud800": "x"}',
            422,
            id="error-path-lone-surrogate",
        ),
        pytest.param("sample", {}, b'{"action": "opened\\u0000", "n": 1}', 202, id="value-nul"),
        pytest.param("sample", {}, b'{"action": "\\ud800", "n": 1}', 202, id="value-lone-surrogate"),
        pytest.param("integers", {}, b'{"n": "\\u0000\\ud800"}', 422, id="error-value"),
    ],
)
def test_text_postgresql_cannot_hold_as_json_is_never_a_server_error(
    server: GunicornServer,
    alice_api: APIClient,
    kind: str,
    trigger_settings: dict[str, str],
    body: bytes,
    status: int,
) -> None:
    hook = make_hook(alice_api, kind, **trigger_settings)
    answer = server.exchange(post(hook, body))
    assert answer.status == status, answer.raw[:500]
    (delivery,) = deliveries(hook)
    assert (delivery.status_code, bytes(delivery.body)) == (status, body)
