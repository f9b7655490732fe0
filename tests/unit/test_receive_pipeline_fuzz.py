"""Fuzzing the whole receive pipeline: generated requests, through Django's test client, to real webhooks.

Each example is one request to one of five triggers built through the API (no schema; a JSON Schema
with filters; a sample-inferred schema; a GitHub-signed trigger that deduplicates on a payload field; a
draft), with a generated method, Content-Type (right, wrong, missing, garbage, with charset parameters),
body (JSON aimed at the schemas, random and mutated bytes, broken UTF-8, deep nesting, huge numbers,
NaN, NUL characters, duplicate keys, lone surrogates, forms, bodies at the size cap), query string and
headers, and sometimes a chunked body with or without a server that de-chunks it. Whatever is sent:

- the answer is never a 5xx, and always JSON; a 4xx carries a documented ``error`` code with its status;
- a request to an unknown trigger stores nothing; one with a wrong key is logged as ``invalid_key``;
- a request with a valid key is logged as exactly one delivery with the answer's status: a 4xx as a
  rejected delivery with the same ``error`` (a 429 at most once a minute, as documented); a 200 as
  filtered or duplicate, without a run;
- every 202 has exactly one queued run and one accepted delivery holding the body byte for byte;
- nothing accepted is lost: every run answered 202 earlier in the test is still there, with its body.

Bounded for CI (``RECEIVE_FUZZ_EXAMPLES``, default 300, derandomized); set the variable higher and
``RECEIVE_FUZZ_RANDOM=1`` for a longer, randomized hunt. ``--hypothesis-show-statistics`` shows which
answers the examples reached.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, event, given, note, settings
from rest_framework.test import APIClient

from tests.support.receive_fuzz import Hook, Ledger, apply_small_limits, build_hooks, send_and_check
from tests.support.receive_fuzz_requests import SECRET, Sent, requests
from workflows.models import Run

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = int(os.environ.get("RECEIVE_FUZZ_EXAMPLES", "300"))
DERANDOMIZE = os.environ.get("RECEIVE_FUZZ_RANDOM", "") != "1"


@pytest.fixture
def hooks(alice_api: APIClient) -> dict[str, Hook]:
    return build_hooks(alice_api)


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()


@pytest.fixture
def small_limits(settings: Any) -> None:
    apply_small_limits(settings)


# --- the test -------------------------------------------------------------------------------------


@given(sent=requests())
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=DERANDOMIZE,
    database=None,
    # The fixtures are built once per test and shared by every example, on purpose: the ledger and the
    # database carry over, so duplicates happen and nothing accepted earlier may disappear later.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_request_breaks_the_receive_pipeline(
    client: Client, hooks: dict[str, Hook], ledger: Ledger, small_limits: None, sent: Sent
) -> None:
    note(repr(sent))  # the failing request, printed with the failure
    outcome = send_and_check(client, hooks, ledger, sent)
    event(f"{sent.kind}: {outcome}")


def test_a_delivery_id_with_a_lone_surrogate_is_not_a_server_error(
    client: Client, hooks: dict[str, Hook]
) -> None:
    """What the fuzz test found first: valid JSON ("\\ud800" is a legal escape) that broke the intake."""
    body = b'{"action": "opened", "id": "\\ud800"}'
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    path = hooks["signed"].path
    headers: dict[str, Any] = {"HTTP_X_HUB_SIGNATURE_256": signature}
    first = client.generic("POST", path, body, "application/json", **headers)
    again = client.generic("POST", path, body, "application/json", **headers)
    assert first.status_code == 202, first.content
    assert (again.status_code, again.json()) == (
        200,
        {"run_id": first.json()["run_id"], "status": "duplicate"},
    )
    assert Run.objects.filter(workflow_id=hooks["signed"].workflow_id).count() == 1
