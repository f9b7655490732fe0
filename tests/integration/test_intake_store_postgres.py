"""The receive path's own SQL, on PostgreSQL (the unit tier runs the same checks on SQLite)."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.support.intake_rows import (
    check_accepted_rows_match_the_orm,
    check_lookup_sees_publish_and_unpublish,
)

pytestmark = pytest.mark.django_db


def test_accepted_rows_match_the_orm(alice_api: APIClient) -> None:
    check_accepted_rows_match_the_orm(alice_api)


def test_the_lookup_sees_publishing(alice_api: APIClient) -> None:
    check_lookup_sees_publish_and_unpublish(alice_api)


def test_bodies_are_compressed_with_lz4(alice_api: APIClient) -> None:
    from django.db import connection

    from tests.support.builders import create_workflow, webhook_path
    from triggers.models import Delivery

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attcompression FROM pg_attribute "
            "WHERE attrelid = 'triggers_delivery'::regclass AND attname = 'body'"
        )
        assert cursor.fetchone()[0] == "l"
    # A body big enough to be compressed comes back byte for byte (a delivery is shown and replayed).
    body = ('{"pad": "' + "webhook " * 2000 + '"}').encode()
    response = Client().post(webhook_path(create_workflow(alice_api)), body, content_type="application/json")
    assert response.status_code == 422  # no schema: refused, and logged with its body
    assert bytes(Delivery.objects.get().body) == body
