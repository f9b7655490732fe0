"""Building workflows through the public API, the way a user does."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient


def create_workflow(
    api: APIClient, *, name: str = "Notify", steps: list[dict[str, Any]] | None = None, publish: bool = True
) -> dict[str, Any]:
    """Create a workflow with a webhook trigger and steps; returns it as the API shows it."""
    created = api.post("/api/workflows/", {"name": name}, format="json")
    assert created.status_code == 201, created.content
    workflow_id = created.json()["id"]
    assert api.put(f"/api/workflows/{workflow_id}/trigger/").status_code == 201
    for step in steps or []:
        response = api.post(f"/api/workflows/{workflow_id}/steps/", step, format="json")
        assert response.status_code == 201, response.content
    if publish:
        response = api.post(f"/api/workflows/{workflow_id}/publish/")
        assert response.status_code == 200, response.content
    return api.get(f"/api/workflows/{workflow_id}/").json()


def http_step(url: str, *, name: str = "notify", **config: Any) -> dict[str, Any]:
    return {"name": name, "type": "http_request", "config": {"method": "POST", "url": url, **config}}


def webhook_path(workflow: dict[str, Any]) -> str:
    """The webhook URL's path, for Django's test client."""
    url: str = workflow["trigger"]["webhook_url"]
    return url[url.index("/hooks/") :]
