"""Idempotent intake under real concurrency: PostgreSQL's unique index, not luck, decides."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from rest_framework.test import APIClient

from tests.support.builders import create_workflow
from triggers.models import Delivery
from workflows.models import Run

pytestmark = pytest.mark.django_db(transaction=True)

COPIES = 100


def test_a_hundred_concurrent_copies_of_one_event_make_exactly_one_run(
    alice_api: APIClient, public_base_url: str
) -> None:
    workflow = create_workflow(alice_api)
    url = workflow["trigger"]["webhook_url"]

    def send(_: int) -> requests.Response:
        # A session per copy, closed after: each copy is its own sender on its own connection.
        with requests.Session() as session:
            session.trust_env = False
            return session.post(url, headers={"Idempotency-Key": "evt-42", "Connection": "close"}, timeout=60)

    with ThreadPoolExecutor(max_workers=COPIES) as pool:
        responses = list(pool.map(send, range(COPIES)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * (COPIES - 1) + [202], statuses
    run_ids = {r.json()["run_id"] for r in responses}
    assert len(run_ids) == 1
    assert Run.objects.filter(workflow_id=workflow["id"]).count() == 1
    outcomes = sorted(Delivery.objects.filter(workflow_id=workflow["id"]).values_list("outcome", flat=True))
    assert outcomes == ["accepted"] + ["duplicate"] * (COPIES - 1)
    print(f"\n{COPIES} concurrent copies: 1 run, {COPIES - 1} answered duplicate with run {run_ids.pop()}")
