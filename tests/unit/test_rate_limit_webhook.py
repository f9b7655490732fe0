"""The per-trigger rate limit at the webhook endpoint and in the trigger API.

The test settings use the filesystem broker, so the limit is counted in this process's memory;
tests/integration/test_rate_limit_redis.py covers counting in Redis.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.support.builders import create_workflow, webhook_path
from triggers import rate_limit
from triggers.models import Delivery
from workflows.models import Run

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_limiter() -> Iterator[None]:
    # SQLite reuses ids between tests: a small limit left behind would refuse another test's requests.
    rate_limit.rate_limit_reset()
    yield
    rate_limit.rate_limit_reset()


@pytest.fixture
def workflow(alice_api: APIClient) -> dict[str, Any]:
    return create_workflow(alice_api, steps=[])


def set_limit(api: APIClient, workflow: dict[str, Any], limit: int | None) -> dict[str, Any]:
    response = api.patch(
        f"/api/workflows/{workflow['id']}/trigger/", {"rate_limit_per_minute": limit}, format="json"
    )
    assert response.status_code == 200, response.content
    trigger: dict[str, Any] = response.json()
    return trigger


def post(client: Client, path: str, body: bytes = b"", **extra: Any) -> Any:
    return client.generic("POST", path, body, **extra)


def test_requests_over_the_limit_are_answered_429_with_retry_after(
    alice_api: APIClient, client: Client, workflow: dict[str, Any]
) -> None:
    set_limit(alice_api, workflow, 3)
    # Like the key, the limit applies at once: it is not part of the published draft.
    assert alice_api.get(f"/api/workflows/{workflow['id']}/").json()["has_unpublished_changes"] is False

    answers = [post(client, webhook_path(workflow)) for _ in range(4)]

    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    refused = answers[3]
    body = refused.json()
    assert body["error"] == "rate_limited"
    assert "3 requests a minute" in body["detail"]
    # 3 a minute is one every 20 s: the next one may pass in at most 20 s.
    assert isinstance(body["retry_after"], int)
    assert 1 <= body["retry_after"] <= 20
    assert refused["Retry-After"] == str(body["retry_after"])
    assert Run.objects.count() == 3


def test_a_flood_leaves_one_delivery_in_the_log_not_one_per_request(
    alice_api: APIClient, client: Client, workflow: dict[str, Any]
) -> None:
    set_limit(alice_api, workflow, 1)

    statuses = [post(client, webhook_path(workflow)).status_code for _ in range(51)]

    assert statuses == [202] + [429] * 50
    logged = list(Delivery.objects.order_by("id").values_list("outcome", "status_code", "error"))
    assert logged == [("accepted", 202, ""), ("rejected", 429, "rate_limited")]
    assert Run.objects.count() == 1


def test_the_limit_is_checked_before_the_body_is_read(
    alice_api: APIClient, client: Client, workflow: dict[str, Any], settings: Any
) -> None:
    set_limit(alice_api, workflow, 1)
    assert post(client, webhook_path(workflow)).status_code == 202
    too_large = b"x" * (settings.WEBHOOK_MAX_BODY_BYTES + 1)

    response = post(client, webhook_path(workflow), too_large, content_type="application/json")

    assert response.status_code == 429  # not 413: nothing of the request was looked at
    assert response.json()["error"] == "rate_limited"


def test_wrong_keys_do_not_use_up_the_budget(
    alice_api: APIClient, client: Client, workflow: dict[str, Any]
) -> None:
    set_limit(alice_api, workflow, 2)
    wrong = webhook_path(workflow).rsplit("/", 1)[0] + "/not-the-key"

    assert {post(client, wrong).status_code for _ in range(10)} == {404}
    assert [post(client, webhook_path(workflow)).status_code for _ in range(3)] == [202, 202, 429]


def test_triggers_have_separate_budgets(
    alice_api: APIClient, client: Client, workflow: dict[str, Any]
) -> None:
    other = create_workflow(alice_api, name="Other", steps=[])
    set_limit(alice_api, workflow, 1)
    set_limit(alice_api, other, 1)

    assert [post(client, webhook_path(workflow)).status_code for _ in range(2)] == [202, 429]
    assert post(client, webhook_path(other)).status_code == 202


def test_without_its_own_limit_a_trigger_has_the_default_and_zero_is_unlimited(
    alice_api: APIClient, client: Client, workflow: dict[str, Any], settings: Any
) -> None:
    settings.WEBHOOK_RATE_LIMIT_PER_MINUTE = 2
    unlimited = create_workflow(alice_api, name="Unlimited", steps=[])
    set_limit(alice_api, unlimited, 0)

    assert [post(client, webhook_path(workflow)).status_code for _ in range(3)] == [202, 202, 429]
    assert {post(client, webhook_path(unlimited)).status_code for _ in range(20)} == {202}


def test_the_trigger_api_shows_and_changes_the_limit(
    alice_api: APIClient, workflow: dict[str, Any], settings: Any
) -> None:
    trigger = workflow["trigger"]
    assert trigger["rate_limit_per_minute"] is None
    assert trigger["effective_rate_limit_per_minute"] == settings.WEBHOOK_RATE_LIMIT_PER_MINUTE

    changed = set_limit(alice_api, workflow, 120)
    assert (changed["rate_limit_per_minute"], changed["effective_rate_limit_per_minute"]) == (120, 120)
    shown = alice_api.get(f"/api/workflows/{workflow['id']}/trigger/").json()
    assert shown["rate_limit_per_minute"] == 120

    back = set_limit(alice_api, workflow, None)
    assert back["rate_limit_per_minute"] is None
    assert back["effective_rate_limit_per_minute"] == settings.WEBHOOK_RATE_LIMIT_PER_MINUTE


@pytest.mark.parametrize("value", [-1, rate_limit.MAX_RATE_LIMIT_PER_MINUTE + 1, 1.5, "fast", True, [60]])
def test_bad_limits_are_refused_by_field(
    alice_api: APIClient, workflow: dict[str, Any], value: object
) -> None:
    response = alice_api.patch(
        f"/api/workflows/{workflow['id']}/trigger/", {"rate_limit_per_minute": value}, format="json"
    )
    assert response.status_code == 400, response.content
    body = response.json()
    assert "rate_limit_per_minute" in body["fields"]
    assert alice_api.get(f"/api/workflows/{workflow['id']}/trigger/").json()["rate_limit_per_minute"] is None
