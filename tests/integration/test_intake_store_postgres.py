"""The receive path's own SQL, on PostgreSQL (the unit tier runs the same checks on SQLite)."""

from __future__ import annotations

import pytest
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
