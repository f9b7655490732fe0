"""The benchmark's baseline view (orchestrator/bench_views.py) exists only with BENCH_ENDPOINTS on."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator

from django.conf import settings
from django.test import Client, override_settings
from django.urls import clear_url_caches

import orchestrator.urls


@contextlib.contextmanager
def routes(*, bench_endpoints: bool) -> Iterator[None]:
    """The URLconf as it is built with the switch on or off; rebuilt as configured afterwards."""
    try:
        with override_settings(BENCH_ENDPOINTS=bench_endpoints):
            importlib.reload(orchestrator.urls)
            clear_url_caches()
            yield
    finally:
        importlib.reload(orchestrator.urls)
        clear_url_caches()


def test_off_by_default() -> None:
    assert settings.BENCH_ENDPOINTS is False
    response = Client().post("/bench/noop/")
    assert response.status_code == 404


def test_off_is_404() -> None:
    with routes(bench_endpoints=False):
        assert Client().get("/bench/noop/").status_code == 404
        assert Client().post("/bench/noop/").status_code == 404


def test_on_answers_anyone_with_tiny_json() -> None:
    with routes(bench_endpoints=True):
        # No credentials and no CSRF token: the view has no authentication, permission or throttle.
        client = Client(enforce_csrf_checks=True)
        for response in (client.post("/bench/noop/"), client.get("/bench/noop/")):
            assert response.status_code == 200
            assert response.json() == {"ok": True}
            assert response["Content-Type"] == "application/json"
    assert Client().post("/bench/noop/").status_code == 404  # rebuilt without it afterwards
