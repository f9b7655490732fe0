"""The API's JSON parser, with the same limits as webhook bodies: deep nesting is a 400, never a
RecursionError and a 500, and NaN/Infinity are refused."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from triggers.parsing import PayloadError, parse_payload

API_MAX_DEPTH = 128  # JSON Schemas nest deeper than typical payloads


class SafeJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        body = stream.read() if stream is not None else b""
        try:
            return parse_payload(
                body, "application/json", max_depth=API_MAX_DEPTH, max_keys=settings.WEBHOOK_MAX_KEYS * 10
            )
        except PayloadError as exc:
            raise ParseError(exc.detail) from None
