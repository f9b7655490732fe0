"""Schemathesis against the API's own OpenAPI schema (/api/schema/): no input makes any endpoint answer 5xx.

The schema is read from the app itself through WSGI, so every operation in it is fuzzed, with positive
(schema-valid) and negative (schema-breaking) inputs and the body content types the schema lists. The
requests carry a real API token, and most of them use the ids of a real workflow (trigger, step, failed
run) so that they reach the views' logic instead of a 404; the rest keep the generated ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.test import Client
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from orchestrator.accounts.services import api_token_issue
from orchestrator.wsgi import application
from tests.conftest import token_client
from tests.support.builders import create_workflow, http_step, webhook_path
from workflows.engine import run_execute

MAX_EXAMPLES = 25

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=MAX_EXAMPLES
)


@dataclass
class Account:
    token: str
    workflow_id: int
    step_id: int
    run_id: int


@pytest.fixture
def account(transactional_db: None) -> Account:
    """A user with a token, a published workflow (trigger, one step) and a failed run."""
    user = User.objects.create_user("fuzzer")
    api: APIClient = token_client(user)
    # A closed port on loopback: the step fails at once, so the run can be retried.
    step = http_step("http://127.0.0.1:9/", name="notify", retry={"max_attempts": 1})
    workflow = create_workflow(api, steps=[step])
    run_id = Client().generic("POST", webhook_path(workflow)).json()["run_id"]
    assert run_execute(run_id=run_id) == "failed"
    token = api_token_issue(user=user, replace=True)
    assert token is not None
    return Account(token, workflow["id"], workflow["steps"][0]["id"], run_id)


def real_ids(path: str, account: Account) -> dict[str, int]:
    """The path parameters that name this account's objects for an operation's path template."""
    if path.startswith("/api/runs/"):
        return {"id": account.run_id}
    if path.startswith("/api/workflows/{workflow_id}/steps/{id}/"):
        return {"workflow_id": account.workflow_id, "id": account.step_id}
    return {"workflow_id": account.workflow_id, "id": account.workflow_id}


@pytest.mark.django_db(transaction=True)  # the WSGI app must see the fixture's rows, committed
@schema.given(use_real_ids=st.integers(min_value=0, max_value=3))
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_no_input_makes_the_api_answer_a_server_error(case: Any, use_real_ids: int, account: Account) -> None:
    if use_real_ids and case.path_parameters:
        ids = real_ids(case.operation.path, account)
        case.path_parameters = {name: ids.get(name, value) for name, value in case.path_parameters.items()}
    case.call_and_validate(headers={"Authorization": f"Token {account.token}"}, checks=[not_a_server_error])
