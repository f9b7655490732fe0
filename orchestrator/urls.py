from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path

from orchestrator.echo import echo
from triggers.views import WEBHOOK_PATH, WebhookView

urlpatterns = [
    # Served in front of this URL conf by orchestrator/webhook_route.py; here for the test client and
    # for the requests that route hands over.
    re_path("^" + WEBHOOK_PATH, WebhookView.as_view()),
    path("api/", include("orchestrator.api_urls")),
    path("admin/", admin.site.urls),
    path("echo/", echo, name="echo"),
]

if settings.BENCH_ENDPOINTS:  # benchmark-only (`make bench`); absent in production
    from orchestrator.bench_views import NoopView

    urlpatterns.append(path("bench/noop/", NoopView.as_view(), name="bench-noop"))
