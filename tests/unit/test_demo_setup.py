"""`manage.py demo_setup`, which `make run` calls on every start."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.test.utils import override_settings
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from orchestrator.accounts.models import ApiToken
from triggers.models import WebhookTrigger
from workflows.models import Step, Workflow, WorkflowVersion


@pytest.fixture(autouse=True)
def local_base_url(settings: Settings) -> None:
    # What devstack sets for PORT=8000, whatever the environment the tests run in says.
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"


def demo_setup() -> str:
    out = StringIO()
    call_command("demo_setup", stdout=out)
    return out.getvalue()


def printed(output: str, label: str) -> str:
    match = re.search(rf"^{label}:\s+(.*)$", output, re.MULTILINE)
    assert match, output
    return match.group(1)


def test_demo_setup_creates_a_published_workflow_whose_webhook_step_posts_to_the_echo_endpoint(
    db: None,
) -> None:
    demo_setup()

    workflow = Workflow.objects.get(name="Demo: echo", owner__username="demo")
    assert workflow.status == "published"
    assert WebhookTrigger.objects.filter(workflow=workflow).exists()
    assert workflow.published_version is not None
    (step,) = workflow.published_version.steps
    assert step["type"] == "http_request"
    assert step["config"]["method"] == "POST"
    assert step["config"]["url"] == "http://127.0.0.1:8000/echo/"


def test_the_demo_user_is_a_superuser_who_can_log_in_with_the_printed_password(db: None) -> None:
    output = demo_setup()

    password = re.search(r"password (\S+)\)", printed(output, "Admin"))
    assert password, output
    user = User.objects.get(username="demo")
    assert user.is_staff and user.is_superuser
    assert Client().login(username="demo", password=password.group(1))


def test_the_printed_curl_command_starts_a_run_and_the_printed_token_can_read_it(db: None) -> None:
    output = demo_setup()

    url = re.fullmatch(
        r"curl -X POST '(http://127\.0\.0\.1:8000(/hooks/\S+))'", printed(output, "Trigger it")
    )
    assert url, output
    response = Client().generic("POST", url.group(2), b"")
    assert response.status_code == 202, response.content
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {printed(output, 'API token')}")
    run = api.get(f"/api/runs/{response.json()['run_id']}/")
    assert run.status_code == 200
    assert run.json()["status"] == "queued"


def test_running_demo_setup_twice_duplicates_nothing_and_keeps_the_webhook_url(db: None) -> None:
    first = demo_setup()
    second = demo_setup()

    assert User.objects.filter(username="demo").count() == 1
    assert Workflow.objects.count() == 1
    assert WebhookTrigger.objects.count() == 1
    assert Step.objects.count() == 1
    assert WorkflowVersion.objects.count() == 1
    assert ApiToken.objects.count() == 1
    # A curl copied from the last start keeps working; the password and token are new each time.
    assert printed(first, "Trigger it") == printed(second, "Trigger it")
    assert printed(first, "API token") != printed(second, "API token")


def test_a_new_port_moves_the_echo_step_and_publishes_a_new_version(db: None) -> None:
    demo_setup()
    with override_settings(PUBLIC_BASE_URL="http://127.0.0.1:8123"):
        output = demo_setup()

    workflow = Workflow.objects.get(name="Demo: echo")
    assert workflow.published_version is not None
    assert workflow.published_version.number == 2
    assert workflow.published_version.steps[0]["config"]["url"] == "http://127.0.0.1:8123/echo/"
    assert printed(output, "Trigger it").startswith("curl -X POST 'http://127.0.0.1:8123/hooks/")
