"""Pieces every API module shares: the error body as OpenAPI describes it, and error translation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, ValidationError

from actions.registry import ConfigError

ERROR = inline_serializer(
    "Error",
    {
        "error": serializers.CharField(help_text="A stable machine-readable code."),
        "detail": serializers.CharField(help_text="What to do about it."),
    },
)
BAD_REQUEST = OpenApiResponse(ERROR, description="Invalid input; validation errors add 'fields'.")
NOT_FOUND = OpenApiResponse(ERROR, description="No such object in your account.")
CONFLICT = OpenApiResponse(ERROR, description="Not possible in the object's current state.")


@contextmanager
def config_errors_as_400(field: str | None = "config") -> Iterator[None]:
    try:
        yield
    except ConfigError as exc:
        raise ValidationError({field: exc.fields} if field else exc.fields) from None


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The object changed while the request was handled; try again."
