"""Send HTTP Request steps filled from the run's data, as a receiver sees them."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.support.builders import create_workflow, http_step, webhook_path
from tests.support.receiver import Receiver, Reply
from workflows.engine import run_execute
from workflows.models import Run

pytestmark = pytest.mark.django_db

PAYLOAD = {"issue": {"id": 42, "title": "Crash on save", "labels": ["bug", "p1"], "q": "a b&c/d"}}
NO_RETRY = {"max_attempts": 1}


def run_with(api: APIClient, client: Client, steps: list[dict[str, Any]], payload: Any = PAYLOAD) -> Run:
    workflow = create_workflow(api, name="Tickets", steps=steps, publish=False)
    api.put(
        f"/api/workflows/{workflow['id']}/trigger/schema/",
        {"kind": "sample", "samples": [payload]},
        format="json",
    )
    api.post(f"/api/workflows/{workflow['id']}/publish/")
    response = client.generic(
        "POST",
        webhook_path(workflow) + "?src=ci",
        json.dumps(payload),
        "application/json",
        HTTP_X_REQUEST_ID="r-7",
    )
    assert response.status_code == 202, response.content
    run_execute(run_id=response.json()["run_id"])
    return Run.objects.get(pk=response.json()["run_id"])


def test_url_query_headers_and_body_come_from_the_trigger_and_keep_their_types(
    alice_api: APIClient, client: Client, receiver: Receiver
) -> None:
    step = http_step(
        receiver.url + "/issues/{{ trigger.body.issue.id }}/{{ trigger.body.issue.q }}",
        query={"source": "{{ trigger.query.src }}", "who": "{{ workflow.name | lower }}"},
        headers={"X-Request-Id": "{{ trigger.headers.x-request-id }}"},
        body={
            "id": "{{ trigger.body.issue.id }}",
            "labels": "{{ trigger.body.issue.labels }}",
            "text": "#{{ trigger.body.issue.id }}: {{ trigger.body.issue.title | upper }}",
            "run": "{{ run.id }}",
            "missing": "{{ trigger.body.nope | default('none') }}",
        },
    )
    run = run_with(alice_api, client, [step])
    assert run.status == "succeeded", run.error
    (request,) = receiver.requests
    url = urlsplit(request.path)
    assert url.path == "/issues/42/a%20b%26c%2Fd"  # substituted values are URL-encoded, even '/'
    assert parse_qs(url.query) == {"source": ["ci"], "who": ["tickets"]}
    assert request.headers["x-request-id"] == "r-7"
    body = json.loads(request.body)
    assert body == {
        "id": 42,
        "labels": ["bug", "p1"],
        "text": "#42: CRASH ON SAVE",
        "run": run.pk,
        "missing": "none",
    }


def test_a_later_step_uses_an_earlier_steps_response(
    alice_api: APIClient, client: Client, receiver: Receiver
) -> None:
    receiver.replies = [Reply(status=201, body=b'{"ticket": {"id": "T-9"}}'), Reply()]
    steps = [
        http_step(receiver.url + "/create", name="create-ticket"),
        http_step(
            receiver.url + "/notify",
            name="notify",
            body={"ticket": "{{ steps.create-ticket.response.body.ticket.id }}",
                  "status": "{{ steps.create-ticket.response.status }}"},
        ),
    ]  # fmt: skip
    run = run_with(alice_api, client, steps)
    assert run.status == "succeeded", run.error
    assert json.loads(receiver.requests[1].body) == {"ticket": "T-9", "status": 201}


def test_a_newline_injected_into_a_header_fails_the_step_and_sends_nothing(
    alice_api: APIClient, client: Client, receiver: Receiver
) -> None:
    step = http_step(receiver.url, headers={"X-Title": "{{ trigger.body.issue.title }}"}, retry=NO_RETRY)
    run = run_with(alice_api, client, [step], payload={"issue": {"title": "x\r\nX-Admin: yes"}})
    assert run.status == "failed"
    assert "line break" in run.step_results.get().error
    assert receiver.requests == []


def test_an_expression_that_fails_names_itself(
    alice_api: APIClient, client: Client, receiver: Receiver
) -> None:
    run = run_with(alice_api, client, [http_step(receiver.url, body={"x": "{{ trigger.body.issue.nope }}"})])
    assert run.status == "failed"
    assert "trigger.body.issue.nope" in run.error
    assert receiver.requests == []


@pytest.mark.parametrize(
    "attempt",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ self }}",
        "{% for i in range(10**9) %}x{% endfor %}",
        "{{ trigger.body.__class__ }}",
    ],
)
def test_sandbox_escapes_are_refused_at_save(alice_api: APIClient, attempt: str) -> None:
    workflow = create_workflow(alice_api, publish=False)
    response = alice_api.post(
        f"/api/workflows/{workflow['id']}/steps/",
        http_step("http://127.0.0.1:9/", body={"x": attempt}),
        format="json",
    )
    assert response.status_code == 400
    assert "body.x" in response.json()["fields"]["config"]


def test_text_and_form_bodies(alice_api: APIClient, client: Client, receiver: Receiver) -> None:
    steps = [
        http_step(receiver.url, name="csv", body_type="text", content_type="text/csv",
                  body="id,title\n{{ trigger.body.issue.id }},{{ trigger.body.issue.title }}"),
        http_step(receiver.url, name="form", body_type="form", body={"id": "{{ trigger.body.issue.id }}"}),
    ]  # fmt: skip
    run = run_with(alice_api, client, steps)
    assert run.status == "succeeded", run.error
    csv, form = receiver.requests
    assert (csv.headers["content-type"], csv.body) == ("text/csv", b"id,title\n42,Crash on save")
    assert (form.headers["content-type"], form.body) == ("application/x-www-form-urlencoded", b"id=42")
