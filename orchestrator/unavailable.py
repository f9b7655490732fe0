"""When the database cannot be reached, say so: 503 with Retry-After, as JSON, never a 500.

A sender that gets a 503 retries later, and nothing was stored (every write on the receive path is one
transaction), so the retry is safe. A 500 would read as "your request broke us"."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5

# Connection-level failures only: a constraint violation or a bad query is a bug and stays a 500.
UNAVAILABLE = (OperationalError, InterfaceError)


def unavailable_response() -> JsonResponse:
    response = JsonResponse(
        {
            "error": "service_unavailable",
            "detail": "The database is unreachable for a moment; nothing was stored. Retry shortly.",
        },
        status=503,
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, UNAVAILABLE):
            logger.warning("database unavailable on %s %s: %s", request.method, request.path, exception)
            return unavailable_response()
        return None
