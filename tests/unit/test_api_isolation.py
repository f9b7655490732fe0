"""Nobody reaches another account's workflows: every API route answers 404 for them.

The routes are enumerated from the URL conf, so a new endpoint cannot skip this check.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from tests.support.builders import create_workflow, http_step, webhook_path
from workflows.models import Run, Workflow

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")


def api_routes() -> list[str]:
    """Every route under /api/ as a regex source, e.g. '^api/workflows/(?P<workflow_id>[0-9]+)/steps/$'."""
    routes: list[str] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            regex = pattern.pattern.regex.pattern.lstrip("^").rstrip("$").replace("\\Z", "")
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + regex)
            elif isinstance(pattern, URLPattern):
                routes.append(prefix + regex)

    walk(get_resolver().url_patterns, "")
    return [r for r in routes if r.startswith("api/") and "(?P<" in r and "format" not in r]


def fill(route: str, ids: dict[str, int]) -> str:
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: str(ids[m.group(1)]), route)
    return "/" + path


@pytest.fixture
def alices(alice_api: APIClient, client: Client, receiver: Any) -> dict[str, int]:
    workflow = create_workflow(alice_api, steps=[http_step(receiver.url)])
    client.generic("POST", webhook_path(workflow))
    run = Run.objects.get(workflow_id=workflow["id"])
    return {
        "pk": workflow["id"],
        "workflow_id": workflow["id"],
        "step_id": workflow["steps"][0]["id"],
        "run_id": run.pk,
    }


def test_every_api_route_with_an_id_is_covered() -> None:
    names = {re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", r) for r in api_routes()}
    assert "api/workflows/{workflow_id}/steps/{pk}/" in names
    assert "api/runs/{pk}/" in names
    assert len(names) >= 9


@pytest.mark.parametrize("route", api_routes())
def test_bob_gets_404_on_every_route_of_alices_workflow(
    route: str, alices: dict[str, int], bob_api: APIClient
) -> None:
    ids = dict(alices)
    if route.startswith("api/workflows/(?P<workflow_id>") and route.endswith("(?P<pk>[0-9]+)/"):
        ids["pk"] = alices["step_id"]
    if route.startswith("api/runs/"):
        ids["pk"] = alices["run_id"]
    path = fill(route, ids)
    for method in METHODS:
        response = getattr(bob_api, method)(path, {}, format="json")
        assert response.status_code in (404, 405), f"{method.upper()} {path} answered {response.status_code}"
        if response.status_code == 404:
            assert "error" in response.json()
    workflow = Workflow.objects.get(pk=alices["workflow_id"])
    assert workflow.name == "Notify" and workflow.published_version is not None


def test_bob_sees_none_of_alices_workflows_in_his_list(alices: dict[str, int], bob_api: APIClient) -> None:
    assert bob_api.get("/api/workflows/").json()["results"] == []
