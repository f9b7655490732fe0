"""The official JSON-Schema-Test-Suite, end to end through the webhook endpoint.

For every required test case (draft7 and draft2020-12): the schema is saved through the API, the
workflow published, and each instance POSTed to the webhook URL: 202 when valid, 422 when invalid.
Cases that need a remote document must be refused at save with 400. Skips where ../shared is absent.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.support.builders import create_workflow, webhook_path
from tests.unit.test_json_schema import declared, needs_remote, suite_cases

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("draft", "case"), suite_cases())
def test_the_suite_case_behaves_the_same_through_the_webhook(
    draft: str | None, case: Any, alice_api: APIClient, client: Client
) -> None:
    if draft is None:
        pytest.skip("JSON-Schema-Test-Suite not found in ../shared/corpora")
    workflow = create_workflow(alice_api, publish=False)
    saved = alice_api.put(
        f"/api/workflows/{workflow['id']}/trigger/schema/",
        {"kind": "json_schema", "schema": declared(draft, case["schema"])},
        format="json",
    )
    if needs_remote(draft, case):
        assert saved.status_code == 400, "a schema that needs a remote document must be refused at save"
        assert saved.json()["error"] == "schema_invalid"
        return
    assert saved.status_code == 200, saved.content
    assert alice_api.post(f"/api/workflows/{workflow['id']}/publish/").status_code == 200
    path = webhook_path(workflow)
    wrong = []
    for test in case["tests"]:
        body = json.dumps(test["data"]).encode()
        response = client.generic("POST", path, body, content_type="application/json")
        expected = 202 if test["valid"] else 422
        if response.status_code != expected:
            wrong.append((test["description"], response.status_code, response.content[:200]))
    assert not wrong, wrong
