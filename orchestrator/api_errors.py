"""Every API error is JSON: a stable machine-readable ``error`` code and a ``detail`` a person can act on."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    # Django's own 404/403 become DRF's, so they get the same body as every other error.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found: there is no such object in your account.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
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
        codes = exc.get_codes()
        response.data = {
            "error": codes if isinstance(codes, str) else exc.default_code,
            "detail": str(exc.detail),
        }
    return response
