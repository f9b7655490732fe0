"""Steps a user (or a sender) takes, shared by the integration tests."""

from __future__ import annotations

from typing import Any

import requests
from rest_framework.test import APIClient

from tests.integration.processes import wait_until

FINISHED = ("succeeded", "failed")
# Generous: a run that needs a sweep, a lease expiry and a worker restart still finishes well within.
RUN_TIMEOUT = 60.0


def post_webhook(http: requests.Session, url: str) -> requests.Response:
    # The timeout only keeps a hung server from hanging the suite; it is not a speed requirement.
    return http.post(url, timeout=30)


def run_detail(api: APIClient, run_id: int) -> dict[str, Any]:
    response = api.get(f"/api/runs/{run_id}/")
    assert response.status_code == 200, response.content
    detail: dict[str, Any] = response.json()
    return detail


def wait_for_finished_run(api: APIClient, run_id: int, timeout: float = RUN_TIMEOUT) -> dict[str, Any]:
    """The run once it has finished, whichever way; the caller asserts which."""

    def finished() -> dict[str, Any] | None:
        detail = run_detail(api, run_id)
        return detail if detail["status"] in FINISHED else None

    return wait_until(finished, timeout=timeout, what=f"run {run_id} to finish", interval=0.2)
