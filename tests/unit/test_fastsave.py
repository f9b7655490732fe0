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


def test_a_row_and_its_child_inserted_together_match_the_orm(alice_api: APIClient, client: Any) -> None:
    workflow = create_workflow(alice_api, steps=[])
    run = Run.objects.get(pk=client.generic("POST", webhook_path(workflow), b"").json()["run_id"])
    now = timezone.now()
    result_values = {"name": "n", "type": "http_request", "attempts": 1, "input": {"u": "\u2603"}}
    attempt_values = {"number": 1, "request": {"a": [1, None]}, "started_at": now}
    by_orm = StepResult(run=run, position=0, **result_values)
    by_orm.save()
    orm_attempt = StepAttempt.objects.create(step_result=by_orm, **attempt_values)
    fast = StepResult(run=run, position=1, **result_values)
    attempt = StepAttempt(**attempt_values)
    fastsave.insert_with_parent(
        fast, fastsave.all_fields(StepResult), attempt, fastsave.all_fields(StepAttempt), "step_result"
    )
    assert fast.pk is not None and attempt.pk is not None and attempt.step_result_id == fast.pk
    assert not fast._state.adding and not attempt._state.adding
    fast_row, orm_row = StepResult.objects.get(pk=fast.pk), StepResult.objects.get(pk=by_orm.pk)
    assert {**_fields(orm_row, StepResult), "position": 1} == _fields(fast_row, StepResult)
    fast_attempt = StepAttempt.objects.get(pk=attempt.pk)
    expected = {**_fields(orm_attempt, StepAttempt), "step_result_id": fast.pk}
    assert _fields(fast_attempt, StepAttempt) == expected


def test_rows_updated_together_are_all_written(alice_api: APIClient, client: Any) -> None:
    workflow = create_workflow(alice_api, steps=[])
    run = Run.objects.get(pk=client.generic("POST", webhook_path(workflow), b"").json()["run_id"])
    result = StepResult(run=run, position=0, name="n", type="t")
    attempt = StepAttempt(number=1, request={}, started_at=timezone.now())
    fastsave.insert_with_parent(
        result, fastsave.all_fields(StepResult), attempt, fastsave.all_fields(StepAttempt), "step_result"
    )
    attempt.status, attempt.response_headers = "succeeded", {"X-A": "1"}
    result.status, result.output = "succeeded", {"status": 200}
    fastsave.update_all([(attempt, ["status", "response_headers"]), (result, ["status", "output"])])
    assert StepAttempt.objects.values_list("status", "response_headers").get(pk=attempt.pk) == (
        "succeeded", {"X-A": "1"},
    )  # fmt: skip
    row = StepResult.objects.values_list("status", "output").get(pk=result.pk)
    assert row == ("succeeded", {"status": 200})

    run.error = "done"
    attempt.error, result.error = "a", "r"
    written = fastsave.updates_then(
        [(attempt, ["error"]), (result, ["error"])], *fastsave.update_statement(run, ["error"])
    )
    assert written == 1
    assert (StepAttempt.objects.get(pk=attempt.pk).error, StepResult.objects.get(pk=result.pk).error) == (
        "a",
        "r",
    )
    assert Run.objects.get(pk=run.pk).error == "done"
    StepResult.objects.filter(pk=result.pk).delete()  # the attempt goes with it
    assert fastsave.updates_then([(attempt, ["status"])], *fastsave.update_statement(result, ["status"])) == 0
