"""The one door for outgoing HTTP: every request has a timeout, a User-Agent, no redirects and a
capped response, and every failure becomes one error type that says whether a retry can help."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings


class OutboundError(Exception):
    def __init__(self, message: str, *, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


@dataclass
class OutboundResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    truncated: bool
    duration_ms: float


_session = requests.Session()
# Proxies from the environment would route around the guard and the timeouts: never use them.
_session.trust_env = False


def send(
    *, method: str, url: str, headers: dict[str, str], data: bytes | None, timeout: float
) -> OutboundResponse:
    cap = settings.HTTP_ACTION_MAX_RESPONSE_BYTES
    all_headers = {"User-Agent": settings.HTTP_USER_AGENT, **headers}
    started = time.monotonic()
    try:
        with _session.request(
            method, url, headers=all_headers, data=data, timeout=timeout, allow_redirects=False, stream=True
        ) as response:
            body = _read_capped(response, cap)
            return OutboundResponse(
                status=response.status_code,
                headers=dict(response.headers),
                body=body[:cap],
                truncated=len(body) > cap,
                duration_ms=(time.monotonic() - started) * 1000,
            )
    except requests.Timeout:
        raise OutboundError(f"no response within {timeout:g} s", retryable=True) from None
    except requests.ConnectionError as exc:
        raise OutboundError(f"could not connect: {_reason(exc)}", retryable=True) from None
    except requests.RequestException as exc:
        raise OutboundError(f"request failed: {_reason(exc)}", retryable=False) from None


def _read_capped(response: requests.Response, cap: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size > cap:
            break
    return b"".join(chunks)


def _reason(exc: Any) -> str:
    # requests nests the useful part several levels deep; the innermost message is what a person needs.
    inner = exc
    while inner.args and isinstance(inner.args[0], Exception):
        inner = inner.args[0]
    reason = getattr(inner, "reason", None)
    return str(reason or inner)
