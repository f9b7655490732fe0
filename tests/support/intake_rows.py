"""Shared by the unit tier (SQLite) and the integration tier (PostgreSQL): the receive path writes the
accepted delivery and its run in SQL of its own, and the rows must be what the ORM would have written."""

from __future__ import annotations

import datetime

from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tests.support.builders import create_workflow, webhook_path
from triggers.intake_store import trigger_lookup
from triggers.models import Delivery, WebhookTrigger
from workflows.models import Run


def check_accepted_rows_match_the_orm(api: APIClient) -> None:
    workflow = create_workflow(api, steps=[])
    before = timezone.now()
    body = b""
    response = Client().generic(
        "POST",
        webhook_path(workflow) + "?source=ci&x=1",
        body,
        HTTP_USER_AGENT="sender/1.0",
        HTTP_X_WEBHOOK_KEY="never stored",
        HTTP_X_EVENT="ping \u00e9",
    )
    assert response.status_code == 202, response.content
    run = Run.objects.select_related("delivery").get(pk=response.json()["run_id"])
    delivery = run.delivery
    assert delivery is not None
    trigger = WebhookTrigger.objects.get(workflow_id=workflow["id"])

    # Read back through the ORM: every field has the type and value the ORM itself would have written.
    assert delivery.workflow_id == workflow["id"] == run.workflow_id
    assert delivery.trigger_id == trigger.pk
    assert delivery.version_id == run.version_id == trigger.workflow.published_version_id
    assert delivery.outcome == "accepted" and delivery.status_code == 202
    assert delivery.error == "" and delivery.detail is None
    assert delivery.method == "POST" and delivery.content_type == ""
    assert bytes(delivery.body) == body and delivery.body_size == 0
    assert delivery.query_string == "source=ci&x=1"
    assert delivery.headers["user-agent"] == "sender/1.0"
    assert delivery.headers["x-event"] == "ping \u00e9"
    assert "x-webhook-key" not in delivery.headers
    assert isinstance(delivery.received_at, datetime.datetime) and timezone.is_aware(delivery.received_at)
    assert before <= delivery.received_at <= timezone.now()
    assert run.status == "queued" and run.error == "" and run.claims == 0
    assert run.created_at == delivery.received_at
    assert run.started_at is None and run.lease_expires_at is None and run.replay_of_id is None

    # Filters on the written columns behave as on ORM-written rows (SQLite compares datetimes as text).
    assert Run.objects.filter(pk=run.pk, created_at__gte=before, created_at__lte=timezone.now()).exists()
    assert Delivery.objects.filter(pk=delivery.pk, received_at__gte=before).exists()


def check_lookup_sees_publish_and_unpublish(api: APIClient) -> None:
    workflow = create_workflow(api, steps=[], publish=False)
    public_id = WebhookTrigger.objects.get(workflow_id=workflow["id"]).public_id
    found = trigger_lookup(public_id=public_id)
    assert found is not None and found.version is None
    assert api.post(f"/api/workflows/{workflow['id']}/publish/").status_code == 200
    found = trigger_lookup(public_id=public_id)
    assert found is not None
    trigger, version = found.trigger, found.version
    assert version is not None
    assert version.pk == trigger.workflow.published_version_id
    published = trigger.workflow.published_version
    assert published is not None and version.snapshot == published.snapshot
    assert trigger_lookup(public_id="no-such-trigger") is None
