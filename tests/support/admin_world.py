"""The admin isolation test's world: what each user owns, built through the API and the engine, and
the helpers that read admin pages and forms (tests/unit/test_admin_isolation.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import models
from django.forms import ModelChoiceField
from django.test import Client
from django.urls import reverse

from orchestrator.accounts.models import ApiToken
from tests.conftest import token_client
from tests.support.builders import create_workflow, http_step, webhook_path
from tests.support.receiver import Receiver
from triggers.models import Delivery, DeliveryKey, WebhookTrigger
from workflows import engine
from workflows.models import Run, Step, StepAttempt, StepResult, Workflow, WorkflowVersion

# Words that appear in everything each user owns (names, keys, e-mail), and nowhere else.
MARKS = {"alice": ("amber-otter", "alice@example.com"), "bob": ("crimson-heron", "bob@example.com")}
# Rows nobody owns: anyone with the permission may pick any of them.
UNOWNED = {Permission}


@dataclass
class World:
    """One of everything, owned by one user, made the way the product makes it."""

    user: User
    group: Group
    token: ApiToken
    workflow: Workflow
    version: WorkflowVersion
    step: Step
    trigger: WebhookTrigger
    delivery: Delivery
    delivery_key: DeliveryKey
    run: Run
    step_result: StepResult
    attempt: StepAttempt


BUILDERS: dict[type[models.Model], Callable[[World], models.Model]] = {
    User: lambda w: w.user,
    Group: lambda w: w.group,
    ApiToken: lambda w: w.token,
    Workflow: lambda w: w.workflow,
    WorkflowVersion: lambda w: w.version,
    Step: lambda w: w.step,
    WebhookTrigger: lambda w: w.trigger,
    Delivery: lambda w: w.delivery,
    DeliveryKey: lambda w: w.delivery_key,
    Run: lambda w: w.run,
    StepResult: lambda w: w.step_result,
    StepAttempt: lambda w: w.attempt,
}


def build_world(user: User, receiver: Receiver) -> World:
    mark = MARKS[user.username][0]
    group = Group.objects.create(name=f"{mark} group")
    user.groups.add(group)
    api = token_client(user)
    step = http_step(receiver.url, name=f"{mark} step")
    shown = create_workflow(api, name=f"{mark} sync", steps=[step])
    answer = Client().generic("POST", webhook_path(shown), headers={"Idempotency-Key": f"{mark}-delivery"})
    assert answer.status_code == 202, answer.content
    run = Run.objects.get(pk=answer.json()["run_id"])
    assert engine.run_execute(run_id=run.pk) == "succeeded"
    result = run.step_results.get()
    return World(
        user=user,
        group=group,
        token=ApiToken.objects.get(user=user),
        workflow=run.workflow,
        version=run.version,
        step=Step.objects.get(workflow=run.workflow),
        trigger=WebhookTrigger.objects.get(workflow=run.workflow),
        delivery=Delivery.objects.get(runs=run),
        delivery_key=DeliveryKey.objects.get(run=run),
        run=run,
        step_result=result,
        attempt=result.attempt_log.get(),
    )


def built(model: type[models.Model], world: World) -> models.Model:
    if model not in BUILDERS:
        pytest.fail(f"{model.__name__} is in the admin but has no builder in BUILDERS: add one")
    return BUILDERS[model](world)


def url(obj: models.Model, view: str = "change") -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_{view}", args=[obj.pk])


def changelist(model: type[models.Model]) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def snapshot(obj: models.Model) -> dict[str, Any] | None:
    fresh = type(obj)._default_manager.filter(pk=obj.pk).first()
    return (
        None if fresh is None else {f.attname: getattr(fresh, f.attname) for f in obj._meta.concrete_fields}
    )


def assert_nothing_of(world: World, html: str) -> None:
    """Nothing of ``world``'s owner on the page: none of their words, no link to anything they own."""
    for mark in MARKS[world.user.username]:
        assert mark not in html, f"{mark!r} is on the page"
    for model, build in BUILDERS.items():
        assert url(build(world)) not in html, (
            f"a link to {world.user}'s {model._meta.model_name} is on the page"
        )


class FormData(HTMLParser):
    """What a browser would submit from the admin's change form: every named field with its value."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id, self.inside, self.data = form_id, False, []  # type: ignore[var-annotated]
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        name = a.get("name")
        if not self.inside or (tag != "option" and not name):
            return
        kind = a.get("type", "text")
        if tag == "input" and kind not in ("submit", "button", "reset", "image", "file"):
            if kind not in ("checkbox", "radio") or "checked" in a:
                self.data.append((name, a.get("value", "on" if kind in ("checkbox", "radio") else "")))
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.data.append((self._select, a.get("value", "")))
        elif tag == "textarea":
            self._textarea = name
            self.data.append((name, ""))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            name, text = self.data.pop()
            self.data.append((name, text + data))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def form_data(html: str, model: type[models.Model]) -> dict[str, list[str]]:
    parser = FormData(f"{model._meta.model_name}_form")
    parser.feed(html)
    data: dict[str, list[str]] = {}
    for name, value in parser.data:
        data.setdefault(name, []).append(value.removeprefix("\n"))  # browsers drop a textarea's first \n
    return data


def choices(field: ModelChoiceField) -> models.QuerySet[Any]:
    assert field.queryset is not None
    return field.queryset


def relation_fields(page: Any) -> dict[str, ModelChoiceField]:
    """The main form's fields that choose rows (foreign keys, many-to-many)."""
    form = page.context["adminform"].form
    return {name: f for name, f in form.fields.items() if isinstance(f, ModelChoiceField)}


def all_choice_fields(page: Any) -> list[ModelChoiceField]:
    fields = list(relation_fields(page).values())
    for inline in page.context["inline_admin_formsets"]:
        form = inline.formset.empty_form
        # Not the hidden id of each row: Django looks a posted id up among the parent's rows only
        # (see test_an_inline_cannot_take_over_bobs_step).
        pk = inline.formset.model._meta.pk.name
        fields += [f for n, f in form.fields.items() if isinstance(f, ModelChoiceField) and n != pk]
    return fields
