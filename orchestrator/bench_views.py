"""Benchmark-only endpoints, routed only when ``settings.BENCH_ENDPOINTS`` is on (``make bench`` sets
``BENCH_ENDPOINTS=1``; production leaves it off, and then these URLs do not exist).

``bench/noop/`` is the framework's ceiling on a machine: a plain DRF ``APIView`` that does nothing, with
no authentication, permission or throttle classes, answering a tiny JSON ``Response``. It goes through
the same gunicorn configuration and the same middleware as every other request, so the webhook's
figures divided by its figures say how much of the framework's ceiling the receive path keeps.
"""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class NoopView(APIView):
    authentication_classes = ()
    permission_classes = ()
    throttle_classes = ()

    def get(self, request: Request) -> Response:
        return Response({"ok": True})

    def post(self, request: Request) -> Response:
        return Response({"ok": True})
