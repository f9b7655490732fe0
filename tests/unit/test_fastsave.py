"""orchestrator/fastsave.py writes what Model.save() writes: rows read back through the ORM are equal."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import models
from django.utils import timezone
from rest_framework.test import APIClient

from orchestrator import fastsave
from tests.support.builders import create_workflow, webhook_path
from workflows.models import Run, StepAttempt, StepResult

pytestmark = pytest.mark.django_db


def _fields(obj: Any, model: type[models.Model]) -> dict[str, Any]:
    return {f.attname: getattr(obj, f.attname) for f in model._meta.concrete_fields if not f.primary_key}


def test_insert_and_update_match_the_orm(alice_api: APIClient, client: Any) -> None:
    workflow = create_workflow(alice_api, steps=[])
    run = Run.objects.get(pk=client.generic("POST", webhook_path(workflow), b"").json()["run_id"])
    now = timezone.now()
    values = {
        "name": "notify \u00e9", "type": "http_request", "attempts": 2, "first_attempt_at": now,
        "input": {"url": "http://x", "nested": [1, None, {"k": "\u2603"}], "flag": True},
        "output": None, "idempotency_key": "msg_1",
    }  # fmt: skip
    by_orm = StepResult(run=run, position=0, **values)
    by_orm.save()
    fast = StepResult(run=run, position=1, **values)
    fastsave.insert(fast, fastsave.all_fields(StepResult))
    assert fast.pk is not None and not fast._state.adding
    orm_row, fast_row = StepResult.objects.get(pk=by_orm.pk), StepResult.objects.get(pk=fast.pk)
    assert {**_fields(orm_row, StepResult), "position": 1} == _fields(fast_row, StepResult)

    fast.status, fast.output, fast.finished_at = "succeeded", {"status": 200, "body": "ok"}, timezone.now()
    assert fastsave.update(fast, ["status", "output", "finished_at"]) == 1
    fast_row = StepResult.objects.get(pk=fast.pk)
    assert (fast_row.status, fast_row.output, fast_row.finished_at) == (
        "succeeded",
        fast.output,
        fast.finished_at,
    )
    assert fast_row.input == values["input"]  # not written by the update, still there

    attempt = StepAttempt(step_result=fast, number=1, request={"a": 1}, started_at=now)
    fastsave.insert(attempt, fastsave.all_fields(StepAttempt))
    attempt.response_truncated, attempt.duration_ms, attempt.response_status = True, 12.5, 204
    fastsave.update(attempt, ["response_truncated", "duration_ms", "response_status"])
    row = StepAttempt.objects.get(pk=attempt.pk)
    assert (row.status, row.request, row.response_truncated, row.duration_ms, row.response_status) == (
        "sending", {"a": 1}, True, 12.5, 204,
    )  # fmt: skip
    assert row.started_at == now


def test_update_of_a_missing_row_changes_nothing(alice_api: APIClient, client: Any) -> None:
    workflow = create_workflow(alice_api, steps=[])
    run = Run.objects.get(pk=client.generic("POST", webhook_path(workflow), b"").json()["run_id"])
    result = StepResult(run=run, position=0, name="n", type="t")
    fastsave.insert(result, fastsave.all_fields(StepResult))
    StepResult.objects.filter(pk=result.pk).delete()
    assert fastsave.update(result, ["status"]) == 0
