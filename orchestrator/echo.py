"""A tiny built-in receiver for the demo workflow: it answers with what it was sent."""

from __future__ import annotations

import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

logger = logging.getLogger(__name__)


@csrf_exempt
def echo(request: HttpRequest) -> JsonResponse:
    body = request.body[:10_000].decode("utf-8", errors="replace")
    logger.info("echo received %s %s bytes", request.method, len(request.body))
    return JsonResponse({"method": request.method, "content_type": request.content_type, "body": body})
