"""The one door for outgoing HTTP: every request has a timeout, a User-Agent, the SSRF guard, a redirect
policy and a capped response, and every failure becomes one error type that says whether a retry can help.

Rules:
- Only http:// and https:// URLs. Proxies from the environment are never used (they would route around
  the guard and the timeouts).
- The guard runs inside the connection (actions/guarded_pool.py): the host is resolved once, every
  address is checked (actions/ssrf.py), and the socket is opened to that exact checked address. The
  Host header, TLS SNI and certificate verification still use the host name from the URL. No second
  DNS lookup happens, so a name cannot answer one address to the check and another to the connect
  (DNS rebinding).
- The allow-list is read from settings.OUTBOUND_ALLOWED_NETWORKS at call time unless given.
- Redirects are not followed unless follow_redirects=True; then at most 5 hops, each one going through
  the same guard. 303 (and 301/302 after a POST) continue as GET without a body, as browsers do. When
  a hop leaves the origin, credentials (Authorization, Cookie and the caller's secret_headers) are
  dropped so that a receiver cannot bounce them elsewhere.
- The response body is read up to max_response_bytes (settings.HTTP_ACTION_MAX_RESPONSE_BYTES) and the
  rest is left unread; `truncated` says so.
- Requests go out through urllib3's pools, prepared by requests' rules (actions/outbound_wire.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from http.client import RemoteDisconnected
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from urllib3 import BaseHTTPResponse
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    DecodeError,
    HTTPError,
    InvalidHeader,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    ResponseError,
    SSLError,
)
from urllib3.util import Retry, Timeout

from actions import outbound_wire, ssrf
from actions.guarded_pool import GuardedPoolManager, PoolsByThread

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
READ_CHUNK_BYTES = 64 * 1024
# No retries inside urllib3, and a read error (a connection closed before answering) is raised as
# itself so that the stale-connection rule below can see it: what requests' HTTPAdapter asked for.
_NO_RETRIES = Retry(0, read=False)


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
    url: str = ""  # the URL that gave this response (after redirects)
    redirects: int = 0


def send(
    *,
    method: str,
    url: str,
    headers: dict[str, str],
    data: bytes | None,
    timeout: float,
    follow_redirects: bool = False,
    allowed_networks: Iterable[str] | None = None,
    max_response_bytes: int | None = None,
    secret_headers: Iterable[str] = (),
    ca_bundle: str | None = None,
) -> OutboundResponse:
    """Send one request (and its redirects, if asked). `ca_bundle` is a PEM file of CAs to trust
    instead of certifi's, for receivers behind a private CA; verification is never turned off."""
    cap = max_response_bytes or settings.HTTP_ACTION_MAX_RESPONSE_BYTES
    networks = _networks(allowed_networks)
    hop = _Hop(method.upper(), url, {"User-Agent": settings.HTTP_USER_AGENT, **headers}, data)
    dropped = CREDENTIAL_HEADERS | {name.lower() for name in secret_headers}
    started = time.monotonic()
    pools = _pools.get(networks, ca_bundle)
    for redirects in range(MAX_REDIRECTS + 1):
        response = _exchange_once_more_if_stale(pools, hop, timeout, cap, networks, ca_bundle)
        response.duration_ms = (time.monotonic() - started) * 1000
        response.redirects = redirects
        location = next((v for k, v in response.headers.items() if k.lower() == "location"), None)
        if not (follow_redirects and response.status in REDIRECT_STATUSES and location):
            return response
        hop = _redirected(hop, response.status, urljoin(hop.url, location), dropped)
    raise OutboundError(f"refused: more than {MAX_REDIRECTS} redirects", retryable=False)


@dataclass(frozen=True)
class _Hop:
    method: str
    url: str
    headers: dict[str, str]
    data: bytes | None


def _networks(allowed: Iterable[str] | None) -> list[ssrf.IPNetwork]:
    try:
        return ssrf.configured_networks() if allowed is None else ssrf.parse_networks(allowed)
    except ValueError as exc:  # an operator's typo: say so on the attempt instead of crashing the run
        raise OutboundError(str(exc), retryable=False) from None


_pools = PoolsByThread()


def _exchange_once_more_if_stale(
    pools: GuardedPoolManager,
    hop: _Hop,
    timeout: float,
    cap: int,
    networks: list[ssrf.IPNetwork],
    ca_bundle: str | None,
) -> OutboundResponse:
    """A kept-alive connection can be closed by the receiver just as a request goes out on it; then no
    response byte ever came, and the request is sent again on a new connection, as browsers do.

    What is known is that the pools were used before, not that this very connection was: a request
    to a receiver that closes new connections unanswered is also sent twice (never more). Receivers
    tell the two apart by the idempotency key, which is the same on both."""
    try:
        return _exchange(pools, hop, timeout, cap)
    except _StaleConnection as stale:
        if not stale.reused:
            raise stale.error from None
    try:
        return _exchange(_pools.fresh(networks, ca_bundle), hop, timeout, cap)
    except _StaleConnection as again:  # a new connection closed unanswered too: that is the answer
        raise again.error from None


class _StaleConnection(Exception):
    def __init__(self, error: OutboundError, reused: bool):
        self.error, self.reused = error, reused


def _exchange(pools: GuardedPoolManager, hop: _Hop, timeout: float, cap: int) -> OutboundResponse:
    parts = urlsplit(hop.url)
    if parts.scheme.lower() not in ("http", "https"):
        raise OutboundError(f"refused: {parts.scheme}:// URLs; only http and https", retryable=False)
    if not parts.hostname:
        raise OutboundError("refused: the URL has no host", retryable=False)
    try:
        target = outbound_wire.target(hop.url)
        body = hop.data or None
        headers = outbound_wire.headers(hop.headers, method=hop.method, body=body, auth=target.basic_auth)
        response = _open(pools, hop.method, target, headers, body, timeout)
        content = _read_capped(response, cap)
        return OutboundResponse(
            status=response.status,
            headers=dict(response.headers),
            body=content[:cap],
            truncated=len(content) > cap,
            duration_ms=0.0,
            url=hop.url,
        )
    except ssrf.AddressRefused as exc:
        raise OutboundError(str(exc), retryable=False) from None
    except requests.RequestException as exc:  # a URL or header that requests' rules refuse
        raise OutboundError(f"request failed: {_reason(exc)}", retryable=False) from None
    finally:
        pools.used = True


def _redirected(hop: _Hop, status: int, url: str, dropped: frozenset[str]) -> _Hop:
    headers = dict(hop.headers)
    if _origin(url) != _origin(hop.url):
        headers = {k: v for k, v in headers.items() if k.lower() not in dropped}
    if status == 303 or (status in (301, 302) and hop.method == "POST"):
        headers = {k: v for k, v in headers.items() if k.lower() not in ("content-type", "content-length")}
        return _Hop("HEAD" if hop.method == "HEAD" else "GET", url, headers, None)
    return replace(hop, url=url, headers=headers)


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, parts.hostname, parts.port or {"http": 80, "https": 443}.get(scheme)


# --- Errors, sorted as requests sorted them (so that every message and retry decision stays) ------


def _open(
    pools: GuardedPoolManager,
    method: str,
    target: outbound_wire.Target,
    headers: dict[str, str],
    body: bytes | None,
    timeout: float,
) -> BaseHTTPResponse:
    """Send the request and read the response's head; the body is left to _read_capped."""
    pool = pools.connection_from_host(target.host, port=target.port, scheme=target.scheme)
    try:
        return pool.urlopen(
            method, target.path, body=body, headers=headers, redirect=False, assert_same_host=False,
            preload_content=False, decode_content=False, retries=_NO_RETRIES,
            timeout=Timeout(connect=timeout, read=timeout),
        )  # fmt: skip
    except (ProtocolError, OSError) as exc:
        if _closed_before_answering(exc):  # read before _exchange marks the pools used
            raise _StaleConnection(_cannot_connect(exc), reused=pools.used) from None
        raise _cannot_connect(exc) from None
    except MaxRetryError as exc:  # how urllib3 reports a failed connect when it may not retry
        reason = exc.reason
        if isinstance(reason, ConnectTimeoutError) and not isinstance(reason, NewConnectionError):
            raise _timed_out(timeout) from None
        if isinstance(reason, ResponseError):
            raise OutboundError(f"request failed: {_reason(exc)}", retryable=False) from None
        if isinstance(reason, SSLError):
            raise _tls_failed(exc) from None
        raise _cannot_connect(exc) from None
    except ClosedPoolError as exc:
        raise _cannot_connect(exc) from None
    except SSLError as exc:
        raise _tls_failed(exc) from None
    except ReadTimeoutError:
        raise _timed_out(timeout) from None
    except InvalidHeader as exc:
        raise OutboundError(f"request failed: {_reason(exc)}", retryable=False) from None


def _read_capped(response: BaseHTTPResponse, cap: int) -> bytes:
    """Up to one chunk past the cap, decoded; the rest is left unread and the connection closed."""
    chunks: list[bytes] = []
    size = 0
    read_to_the_end = False
    try:
        for chunk in response.stream(READ_CHUNK_BYTES, decode_content=True):
            chunks.append(chunk)
            size += len(chunk)
            if size > cap:
                break
        else:
            read_to_the_end = True
    except (ProtocolError, DecodeError) as exc:  # a broken chunked encoding or compressed body
        raise OutboundError(f"request failed: {_reason(exc)}", retryable=False) from None
    except ReadTimeoutError as exc:
        raise OutboundError(f"could not connect: {_reason(exc)}", retryable=True) from None
    except SSLError as exc:
        raise _tls_failed(exc) from None
    finally:
        if not read_to_the_end:
            response.close()  # a connection with unread bytes on it cannot carry another request
        response.release_conn()
    return b"".join(chunks)


def _timed_out(timeout: float) -> OutboundError:
    return OutboundError(f"no response within {timeout:g} s", retryable=True)


def _tls_failed(exc: HTTPError) -> OutboundError:
    # Retryable: a receiver's broken certificate is usually fixed by the receiver, not by us.
    return OutboundError(f"TLS failed: {_reason(exc)}", retryable=True)


def _cannot_connect(exc: Exception) -> OutboundError:
    return OutboundError(f"could not connect: {_reason(exc)}", retryable=True)


def _reason(exc: Any) -> str:
    # The useful part is nested several levels deep; the innermost message is what a person needs.
    inner = exc
    while inner.args and isinstance(inner.args[0], Exception):
        inner = inner.args[0]
    reason = getattr(inner, "reason", None)
    return str(reason or inner)


def _closed_before_answering(exc: BaseException, depth: int = 0) -> bool:
    # urllib3 wraps the socket-level cause in its own errors, as an argument.
    if isinstance(exc, (RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
        return True
    inner = [arg for arg in exc.args if isinstance(arg, BaseException)]
    return depth < 5 and any(_closed_before_answering(arg, depth + 1) for arg in inner)
