"""The request as the receive path sees it, independent of the web framework, its answer, the
rejection that explains a refusal, and reading its body with a cap."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.conf import settings

from triggers.rate_limit import Refusal
from triggers.trigger_filters import query_params


@dataclass
class InboundRequest:
    method: str
    headers: dict[str, str]
    content_type: str
    declared_length: int | None
    query_string: str
    read: Callable[[int], bytes]
    chunked_unsupported: bool = False
    # Kept for a second pass over the request (triggers/intake.py webhook_receive): the stream can be
    # read once, a refusal to read it must not wait on it again, and the rate limiter counts a request once
    # (under the limit it was checked against).
    body_read: bytes | None = None
    body_refused: Rejection | None = None
    limit_checked: tuple[int, Refusal | None] | None = None

    @cached_property
    def query(self) -> dict[str, str | list[str]]:
        """Query parameters, parsed once: filters and deduplication both read them."""
        return query_params(self.query_string)


@dataclass
class Response:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class Rejection(Exception):
    def __init__(
        self,
        status: int,
        error: str,
        detail: str,
        *,
        errors: list[Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail
        self.errors = errors
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.error, "detail": self.detail}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def read_body(request: InboundRequest) -> bytes:
    if request.body_read is None:
        if request.body_refused is not None:  # a second pass must not wait on the stream again
            raise request.body_refused
        try:
            request.body_read = _read_stream(request)
        except Rejection as refused:
            request.body_refused = refused
            raise
    return request.body_read


def _read_stream(request: InboundRequest) -> bytes:
    cap = settings.WEBHOOK_MAX_BODY_BYTES
    chunks: list[bytes] = []
    remaining = cap + 1
    while remaining > 0:
        # A stream may return fewer bytes than asked for; read until it ends or passes the cap.
        try:
            chunk = request.read(min(remaining, 64 * 1024))
        except Exception as error:
            # The server could not deliver the body: it stalled past the server's timeout, the
            # connection broke, or the chunked encoding was invalid (gunicorn raises its parser's
            # errors from the stream). Django wraps socket errors in UnreadablePostError.
            if isinstance(error, TimeoutError) or isinstance(error.__cause__, TimeoutError):
                raise Rejection(
                    408,
                    "body_timeout",
                    "The body stopped arriving before it was complete; nothing "
                    "was accepted. Send the request again.",
                ) from None
            raise Rejection(
                400,
                "body_incomplete",
                "The body could not be read to its end (the connection broke "
                "or its chunked encoding is invalid); nothing was accepted. Send the request again.",
            ) from None
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    body = b"".join(chunks)
    if len(body) > cap:
        raise Rejection(413, "payload_too_large", f"The body is larger than the limit of {cap} bytes.")
    if request.declared_length is not None and len(body) < request.declared_length:
        raise Rejection(
            400,
            "body_incomplete",
            f"The body ended after {len(body)} of the {request.declared_length} "
            "bytes its Content-Length announced; nothing was accepted. Send the request again.",
        )
    return body
