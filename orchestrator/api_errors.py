"""Every API error is JSON: a stable machine-readable ``error`` code and a ``detail`` a person can act on."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "error": "validation_failed",
            "detail": "The request has invalid fields; see 'fields'.",
            "fields": response.data,
        }
    elif isinstance(exc, exceptions.APIException):
        detail = response.data.get("detail") if isinstance(response.data, dict) else response.data
        response.data = {
            "error": exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code,
            "detail": str(detail),
        }
    return response
