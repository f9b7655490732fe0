"""The SSRF guard, through a workflow: a step cannot reach an address the guard refuses.

Only loopback is used: the guard is closed over loopback for these tests, and the local server
checks that nothing arrived. The address classifier itself is unit-tested in test_ssrf.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.test.utils import override_settings
from rest_framework.test import APIClient

from tests.support.builders import create_workflow, http_step, webhook_path
from tests.support.receiver import Receiver, Reply
from workflows.engine import run_execute
from workflows.models import Run

pytestmark = pytest.mark.django_db


def run_step(api: APIClient, client: Client, step: dict[str, Any]) -> Run:
    workflow = create_workflow(api, steps=[step])
    run_id = client.generic("POST", webhook_path(workflow)).json()["run_id"]
    run_execute(run_id=run_id)
    return Run.objects.get(pk=run_id)


@override_settings(OUTBOUND_ALLOWED_NETWORKS=[])
@pytest.mark.parametrize(
    "host", ["127.0.0.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1", "127.1", "localhost"]
)
def test_a_step_aimed_at_loopback_is_refused_and_nothing_arrives(
    alice_api: APIClient, client: Client, receiver: Receiver, host: str
) -> None:
    port = receiver.url.rsplit(":", 1)[1]
    run = run_step(alice_api, client, http_step(f"http://{host}:{port}/"))
    assert run.status == "failed"  # refused is final: no retry is planned
    assert "refused" in run.step_results.get().error
    assert receiver.requests == []


@override_settings(OUTBOUND_ALLOWED_NETWORKS=["127.0.0.1/32"])
def test_a_redirect_to_a_refused_address_is_refused(
    alice_api: APIClient, client: Client, receiver: Receiver
) -> None:
    port = receiver.url.rsplit(":", 1)[1]
    receiver.replies = [Reply(status=302, headers={"Location": f"http://127.0.0.2:{port}/inside"})]
    run = run_step(
        alice_api, client, http_step(receiver.url, follow_redirects=True, retry={"max_attempts": 1})
    )
    assert run.status == "failed"
    assert "refused" in run.step_results.get().error
    assert [r.path for r in receiver.requests] == ["/"]  # the first hop only


def test_redirects_are_not_followed_by_default(
    alice_api: APIClient, client: Client, receiver: Receiver
) -> None:
    receiver.replies = [Reply(status=302, headers={"Location": "/elsewhere"})]
    run = run_step(alice_api, client, http_step(receiver.url, success_statuses=["2xx", 302]))
    assert run.status == "succeeded"
    assert [r.path for r in receiver.requests] == ["/"]
