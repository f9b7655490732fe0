"""The Django admin: every model is listed, filtered and searched, and no secret is shown."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from tests.support.builders import create_workflow, http_step, webhook_path

pytestmark = pytest.mark.django_db

OUR_APPS = {"workflows", "triggers", "accounts"}


@pytest.fixture
def staff(client: Client) -> Client:
    User.objects.create_superuser("root", "root@example.com", "pw")
    client.login(username="root", password="pw")
    return client


def test_every_model_of_ours_is_registered() -> None:
    from django.apps import apps

    ours = [m for m in apps.get_models() if m._meta.app_label in OUR_APPS]
    assert ours and all(admin.site.is_registered(m) for m in ours)


def test_every_changelist_and_change_page_renders_without_the_key(
    staff: Client, alice_api: APIClient
) -> None:
    workflow = create_workflow(alice_api)
    key = workflow["trigger"]["webhook_url"].rsplit("/", 1)[1]
    staff.generic("POST", webhook_path(workflow))
    for model in list(admin.site._registry):
        if model._meta.app_label not in OUR_APPS:
            continue
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        listing = staff.get(base, {"q": "a"})
        assert listing.status_code == 200, base
        for obj in model._default_manager.all()[:3]:
            page = staff.get(f"{base}{obj.pk}/change/")
            assert page.status_code == 200, f"{base}{obj.pk}"
            assert key not in page.content.decode()
        assert key not in staff.get(base).content.decode()


def test_step_secrets_are_masked_in_the_admin(staff: Client, alice_api: APIClient) -> None:
    step = http_step("http://127.0.0.1:9/", auth={"kind": "bearer", "token": "tok-admin-3"})
    workflow = create_workflow(alice_api, steps=[step])
    for url in (
        f"/admin/workflows/step/{workflow['steps'][0]['id']}/change/",
        f"/admin/workflows/workflow/{workflow['id']}/change/",
    ):
        page = staff.get(url).content.decode()
        assert "tok-admin-3" not in page
        assert "••••••••" in page


def test_the_trigger_page_shows_a_masked_key(staff: Client, alice_api: APIClient) -> None:
    workflow = create_workflow(alice_api)
    page = staff.get(f"/admin/triggers/webhooktrigger/{workflow['trigger']['id']}/change/").content.decode()
    assert "…••••••••" in page
