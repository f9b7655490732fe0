"""Isolation in the Django admin: a staff user who is not a superuser reaches only their own objects.

The models are enumerated from the admin's registry, so a new ModelAdmin cannot skip these checks: each
registered model needs a builder in BUILDERS, or every test of it fails and says so. Alice is staff with
every permission of every registered model, so only the scoping can stop her.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.db import models
from django.test import Client

from orchestrator.accounts.models import ApiToken
from orchestrator.admin_scope import OwnerScopedMixin
from tests.support.admin_world import (
    BUILDERS,
    MARKS,
    UNOWNED,
    World,
    all_choice_fields,
    assert_nothing_of,
    build_world,
    built,
    changelist,
    choices,
    form_data,
    relation_fields,
    snapshot,
    url,
)  # fmt: skip
from tests.support.receiver import Receiver
from triggers.models import WebhookTrigger
from workflows.models import Run, Step, Workflow

pytestmark = pytest.mark.django_db

REGISTERED = sorted(admin.site._registry, key=lambda m: m._meta.label)


@pytest.fixture
def worlds(alice: User, bob: User, receiver: Receiver) -> dict[str, World]:
    return {"alice": build_world(alice, receiver), "bob": build_world(bob, receiver)}


@pytest.fixture
def alice_admin(worlds: dict[str, World]) -> Client:
    alice = worlds["alice"].user
    alice.is_staff = True
    alice.save()
    apps = {model._meta.app_label for model in admin.site._registry}
    alice.user_permissions.set(Permission.objects.filter(content_type__app_label__in=apps))
    client = Client()
    client.force_login(alice)
    return client


def test_every_registered_model_has_a_builder() -> None:
    missing = [m._meta.label for m in REGISTERED if m not in BUILDERS]
    assert not missing, f"registered in the admin without a builder here: {missing}"
    unscoped = [
        m._meta.label for m, ma in admin.site._registry.items() if not isinstance(ma, OwnerScopedMixin)
    ]
    assert not unscoped, f"ModelAdmins without OwnerScopedMixin: {unscoped}"
    ours = {"workflows", "triggers", "accounts"}
    assert {m._meta.app_label for m in REGISTERED} >= ours


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m._meta.label)
def test_the_list_shows_only_her_own(
    model: type[models.Model], worlds: dict[str, World], alice_admin: Client
) -> None:
    own, bobs = built(model, worlds["alice"]), built(model, worlds["bob"])
    for query in ({}, {"_facets": "1"}):  # the filters' choices and counts are on these pages too
        page = alice_admin.get(changelist(model), query)
        assert page.status_code == 200, query
        assert_nothing_of(worlds["bob"], page.content.decode())
    for term in (*MARKS["bob"], str(bobs.pk)):  # the page repeats the term, so: not in the results
        page = alice_admin.get(changelist(model), {"q": term})
        assert page.status_code == 200, term
        assert bobs.pk not in [row.pk for row in page.context["cl"].result_list]
        assert url(bobs) not in page.content.decode()
    # The control: her own row is listed, so the page does list rows.
    assert url(own) in alice_admin.get(changelist(model)).content.decode()


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m._meta.label)
def test_every_page_of_bobs_object_is_not_found(
    model: type[models.Model], worlds: dict[str, World], alice_admin: Client
) -> None:
    own, bobs = built(model, worlds["alice"]), built(model, worlds["bob"])
    before = snapshot(bobs)
    routes = [str(p.pattern) for p in admin.site._registry[model].get_urls() if "<" in str(p.pattern)]
    assert any(r.endswith("change/") for r in routes) and any(r.endswith("delete/") for r in routes)
    base = changelist(model)
    for route in routes:  # change, delete, history, and any page a ModelAdmin adds (a password form)
        path = base + re.sub(r"<(?:\w+:)?\w+>", str(bobs.pk), route)
        for method in ("get", "post"):
            answer = getattr(alice_admin, method)(
                path, {"post": "yes"} if method == "post" else {}, follow=True
            )
            assert answer.status_code in (404, 403), f"{method.upper()} {path}: {answer.status_code}"
            assert_nothing_of(worlds["bob"], answer.content.decode())
        mine = alice_admin.get(base + re.sub(r"<(?:\w+:)?\w+>", str(own.pk), route), follow=True)
        assert mine.status_code in (200, 403), f"her own {route}: {mine.status_code}"  # the control
    assert snapshot(bobs) == before


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m._meta.label)
def test_no_form_offers_bobs_objects(
    model: type[models.Model], worlds: dict[str, World], alice_admin: Client
) -> None:
    pages = [alice_admin.get(url(built(model, worlds["alice"])))]
    if admin.site._registry[model].has_add_permission(pages[0].wsgi_request):
        pages.append(alice_admin.get(changelist(model) + "add/"))
    for page in pages:
        assert page.status_code == 200
        assert_nothing_of(worlds["bob"], page.content.decode())
        for field in all_choice_fields(page):
            target = choices(field).model
            if target in UNOWNED:
                continue
            assert not choices(field).filter(pk=built(target, worlds["bob"]).pk).exists(), field.label
            assert choices(field).filter(pk=built(target, worlds["alice"]).pk).exists(), field.label


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m._meta.label)
def test_a_form_cannot_point_her_object_at_bobs(
    model: type[models.Model], worlds: dict[str, World], alice_admin: Client
) -> None:
    own = built(model, worlds["alice"])
    page = alice_admin.get(url(own))
    data = form_data(page.content.decode(), model)
    # The control: her form, sent back as it came, is accepted, so a refusal below is the scoping's.
    if admin.site._registry[model].has_change_permission(page.wsgi_request, own):
        accepted = alice_admin.post(url(own), data)
        assert accepted.status_code == 302, accepted.context and accepted.context["errors"]
    for name, field in relation_fields(page).items():
        target = built(choices(field).model, worlds["bob"])
        db_field = model._meta.get_field(name)
        # A one-to-one: free bob's slot, so that only the scoping can refuse.
        if isinstance(db_field, models.Field) and db_field.unique:
            model._default_manager.filter(**{name: target}).exclude(pk=own.pk).delete()
        before = snapshot(own)
        refused = alice_admin.post(url(own), {**data, name: [str(target.pk)]})
        assert refused.status_code == 200, f"{name} = bob's {target._meta.model_name} was accepted"
        assert "Select a valid choice" in refused.content.decode()
        assert_nothing_of(worlds["bob"], refused.content.decode())
        assert snapshot(own) == before


def test_the_forms_with_relations_are_checked(worlds: dict[str, World], alice_admin: Client) -> None:
    """The test above is only as good as the fields it finds: these must be among them."""
    expected = {Workflow: {"owner", "published_version"}, Step: {"workflow"}, ApiToken: {"user"}}
    expected |= {Run: {"workflow", "version", "delivery", "replay_of"}, WebhookTrigger: {"workflow"}}
    for model, names in expected.items():
        assert set(relation_fields(alice_admin.get(url(built(model, worlds["alice"]))))) >= names


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m._meta.label)
def test_no_action_touches_bobs_objects(
    model: type[models.Model], worlds: dict[str, World], alice_admin: Client
) -> None:
    bobs = built(model, worlds["bob"])
    before = snapshot(bobs)
    page = alice_admin.get(changelist(model))
    form = page.context["action_form"]  # None where she may run no action (groups)
    actions = [name for name, _ in form.fields["action"].choices if name] if form else []
    for action in actions:
        data = {"action": action, "_selected_action": [str(bobs.pk)], "post": "yes", "index": "0"}
        answer = alice_admin.post(changelist(model), data, follow=True)
        assert answer.status_code == 200, action
        assert_nothing_of(worlds["bob"], answer.content.decode())
    assert snapshot(bobs) == before


def test_an_action_acts_on_her_own(worlds: dict[str, World], alice_admin: Client) -> None:
    step = worlds["alice"].step
    data = {"action": "delete_selected", "_selected_action": [str(step.pk)], "post": "yes"}
    assert alice_admin.post(changelist(Step), data).status_code == 302
    assert snapshot(step) is None


def queued_messages() -> dict[Path, list[Any]]:
    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_out"])  # type: ignore[arg-type]
    found: dict[Path, list[Any]] = {}
    for path in folder.iterdir():
        message = json.loads(path.read_text())
        found[path] = json.loads(base64.b64decode(message["body"]))[0]  # the task's positional args
    return found


def test_requeue_sends_her_runs_and_not_bobs(worlds: dict[str, World], alice_admin: Client) -> None:
    Run.objects.update(status="queued")
    earlier = queued_messages()
    runs = [str(worlds["alice"].run.pk), str(worlds["bob"].run.pk)]
    answer = alice_admin.post(changelist(Run), {"action": "requeue", "_selected_action": runs}, follow=True)
    assert "Sent 1 of 1 unfinished runs" in answer.content.decode()
    sent = [args for path, args in queued_messages().items() if path not in earlier]
    assert sent == [[worlds["alice"].run.pk]]


def test_autocomplete_answers_nothing_of_bobs(worlds: dict[str, World], alice_admin: Client) -> None:
    """Django's autocomplete view answers for any relation to an admin with search_fields, whether a
    form uses it or not: every one of them must search her rows only."""
    answered = 0
    for model in REGISTERED:
        for field in model._meta.get_fields():
            target = field.related_model
            if not (field.is_relation and field.concrete and target in admin.site._registry):
                continue
            assert isinstance(target, type)
            query = {"app_label": model._meta.app_label, "model_name": str(model._meta.model_name)}
            answer = alice_admin.get("/admin/autocomplete/", {**query, "field_name": field.name, "term": ""})
            assert answer.status_code in (200, 403, 404), (model, field.name)
            if answer.status_code == 200:
                answered += 1
                ids = {r["id"] for r in answer.json()["results"]}
                assert str(built(target, worlds["bob"]).pk) not in ids, (model, field.name)
                assert str(built(target, worlds["alice"]).pk) in ids, (model, field.name)
                assert_nothing_of(worlds["bob"], answer.content.decode())
    assert answered >= 10


def test_she_cannot_make_herself_a_superuser(worlds: dict[str, World], alice_admin: Client) -> None:
    alice = worlds["alice"].user
    data = form_data(alice_admin.get(url(alice)).content.decode(), User)
    data |= {"is_superuser": ["on"], "email": ["alice@example.org"]}
    data["user_permissions"] = [str(p.pk) for p in Permission.objects.all()]
    assert alice_admin.post(url(alice), data).status_code == 302
    data["groups"] = [str(worlds["bob"].group.pk)]
    assert alice_admin.post(url(alice), data).status_code == 302
    alice.refresh_from_db()
    assert alice.email == "alice@example.org"  # the form was saved ...
    assert not alice.is_superuser  # ... without the fields that would undo her scoping
    assert alice.user_permissions.count() < Permission.objects.count()
    assert list(alice.groups.all()) == [worlds["alice"].group]


def test_an_inline_cannot_take_over_bobs_step(worlds: dict[str, World], alice_admin: Client) -> None:
    workflow, bobs = worlds["alice"].workflow, worlds["bob"].step
    data = form_data(alice_admin.get(url(workflow)).content.decode(), Workflow)
    (id_field,) = [name for name in data if re.fullmatch(r"steps-0-id", name)]
    before, hers = snapshot(bobs), list(workflow.steps.values())
    answer = alice_admin.post(url(workflow), {**data, id_field: [str(bobs.pk)], "steps-0-name": ["taken"]})
    assert answer.status_code in (200, 302)  # Django drops a row that is not the parent's
    assert_nothing_of(worlds["bob"], answer.content.decode())
    assert snapshot(bobs) == before
    assert list(workflow.steps.values()) == hers


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m._meta.label)
def test_a_superuser_sees_everyones(
    model: type[models.Model], worlds: dict[str, World], client: Client
) -> None:
    User.objects.create_superuser("root", "root@example.com", "pw")
    client.login(username="root", password="pw")
    listing = client.get(changelist(model)).content.decode()
    for world in worlds.values():
        assert url(built(model, world)) in listing
    bobs = built(model, worlds["bob"])
    page = client.get(url(bobs))
    assert page.status_code == 200
    assert url(bobs, "history") in page.content.decode()
