from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path

from orchestrator.echo import echo
from triggers.views import WebhookView

urlpatterns = [
    # With or without a trailing slash: a redirect would turn a sender's POST into a GET.
    re_path(r"^hooks/(?P<public_id>[A-Za-z0-9_-]{1,32})/(?P<key>[^/]{1,200})/?$", WebhookView.as_view()),
    path("api/", include("orchestrator.api_urls")),
    path("admin/", admin.site.urls),
    path("echo/", echo, name="echo"),
]

if settings.BENCH_ENDPOINTS:  # benchmark-only (`make bench`); absent in production
    from orchestrator.bench_views import NoopView

    urlpatterns.append(path("bench/noop/", NoopView.as_view(), name="bench-noop"))
