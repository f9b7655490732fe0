"""The one door for outgoing HTTP: every request has a timeout, a User-Agent, the SSRF guard, a redirect
policy and a capped response, and every failure becomes one error type that says whether a retry can help.

Rules:
- Only http:// and https:// URLs. Proxies from the environment are never used (they would route around
  the guard and the timeouts).
- The guard runs inside the connection: the host is resolved once, every address is checked
  (actions/ssrf.py), and the socket is opened to that exact checked address. The Host header, TLS SNI
  and certificate verification still use the host name from the URL. No second DNS lookup happens, so
  a name cannot answer one address to the check and another to the connect (DNS rebinding).
- The allow-list is read from settings.OUTBOUND_ALLOWED_NETWORKS at call time unless given.
- Redirects are not followed unless follow_redirects=True; then at most 5 hops, each one going through
  the same guard. 303 (and 301/302 after a POST) continue as GET without a body, as browsers do. When
  a hop leaves the origin, credentials (Authorization, Cookie and the caller's secret_headers) are
  dropped so that a receiver cannot bounce them elsewhere.
- The response body is read up to max_response_bytes (settings.HTTP_ACTION_MAX_RESPONSE_BYTES) and the
  rest is left unread; `truncated` says so.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from http.client import RemoteDisconnected
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.poolmanager import PoolManager
from urllib3.util.connection import create_connection

from actions import ssrf

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


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
    instead of the system's, for receivers behind a private CA; verification is never turned off."""
    cap = max_response_bytes or settings.HTTP_ACTION_MAX_RESPONSE_BYTES
    networks = _networks(allowed_networks)
    hop = _Hop(method.upper(), url, {"User-Agent": settings.HTTP_USER_AGENT, **headers}, data)
    dropped = CREDENTIAL_HEADERS | {name.lower() for name in secret_headers}
    started = time.monotonic()
    session = _sessions.get(networks, ca_bundle)
    for redirects in range(MAX_REDIRECTS + 1):
        response = _exchange_once_more_if_stale(session, hop, timeout, cap, networks, ca_bundle)
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


def _exchange_once_more_if_stale(
    session: requests.Session,
    hop: _Hop,
    timeout: float,
    cap: int,
    networks: list[ssrf.IPNetwork],
    ca_bundle: str | None,
) -> OutboundResponse:
    """A kept-alive connection can be closed by the receiver just as a request goes out on it; then no
    response byte ever came, and the request is sent again on a new connection, as browsers do.

    What is known is that the session was used before, not that this very connection was: a request
    to a receiver that closes new connections unanswered is also sent twice (never more). Receivers
    tell the two apart by the idempotency key, which is the same on both."""
    try:
        return _exchange(session, hop, timeout, cap)
    except _StaleConnection as stale:
        if not stale.reused:
            raise stale.error from None
    try:
        return _exchange(_sessions.fresh(networks, ca_bundle), hop, timeout, cap)
    except _StaleConnection as again:  # a new connection closed unanswered too: that is the answer
        raise again.error from None


class _StaleConnection(Exception):
    def __init__(self, error: OutboundError, reused: bool):
        self.error, self.reused = error, reused


def _exchange(session: requests.Session, hop: _Hop, timeout: float, cap: int) -> OutboundResponse:
    parts = urlsplit(hop.url)
    if parts.scheme.lower() not in ("http", "https"):
        raise OutboundError(f"refused: {parts.scheme}:// URLs; only http and https", retryable=False)
    if not parts.hostname:
        raise OutboundError("refused: the URL has no host", retryable=False)
    try:
        with session.request(
            hop.method, hop.url, headers=hop.headers, data=hop.data, timeout=timeout,
            allow_redirects=False, stream=True,
        ) as response:  # fmt: skip
            body = _read_capped(response, cap)
            return OutboundResponse(
                status=response.status_code,
                headers=dict(response.headers),
                body=body[:cap],
                truncated=len(body) > cap,
                duration_ms=0.0,
                url=hop.url,
            )
    except ssrf.AddressRefused as exc:
        raise OutboundError(str(exc), retryable=False) from None
    except requests.Timeout:
        raise OutboundError(f"no response within {timeout:g} s", retryable=True) from None
    except requests.exceptions.SSLError as exc:
        # Retryable: a receiver's broken certificate is usually fixed by the receiver, not by us.
        raise OutboundError(f"TLS failed: {_reason(exc)}", retryable=True) from None
    except requests.ConnectionError as exc:
        error = OutboundError(f"could not connect: {_reason(exc)}", retryable=True)
        if _closed_before_answering(exc):
            raise _StaleConnection(error, reused=_sessions.was_used(session)) from None
        raise error from None
    except requests.RequestException as exc:
        raise OutboundError(f"request failed: {_reason(exc)}", retryable=False) from None
    finally:
        _sessions.mark_used(session)


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


# --- The guard inside the connection -------------------------------------------------------------


def _dial(conn: HTTPConnection, networks: list[ssrf.IPNetwork]) -> socket.socket:
    """What urllib3's _new_conn does, except that the address dialled is one the guard checked."""
    try:
        addresses = ssrf.resolve(conn._dns_host, conn.port or 0, networks)
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    error: Exception = NewConnectionError(conn, f"no address for {conn.host}")
    for address in addresses:
        try:
            return create_connection(
                (address, conn.port or 0),
                conn.timeout,
                source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except TimeoutError:
            error = ConnectTimeoutError(conn, f"Connection to {conn.host} timed out")
        except OSError as exc:
            error = NewConnectionError(conn, f"Failed to establish a new connection: {exc}")
    raise error


class _GuardedHTTPConnection(HTTPConnection):
    def __init__(self, *args: Any, allowed_networks: list[ssrf.IPNetwork], **kwargs: Any) -> None:
        self.allowed_networks = allowed_networks
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        return _dial(self, self.allowed_networks)


class _GuardedHTTPSConnection(HTTPSConnection):
    # HTTPSConnection.connect() wraps the socket from _new_conn() with server_hostname=self.host, so
    # SNI and certificate checks are made against the name in the URL, not the dialled address.
    def __init__(self, *args: Any, allowed_networks: list[ssrf.IPNetwork], **kwargs: Any) -> None:
        self.allowed_networks = allowed_networks
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        return _dial(self, self.allowed_networks)


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedPoolManager(PoolManager):
    def __init__(self, allowed_networks: list[ssrf.IPNetwork], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.allowed_networks = allowed_networks
        self.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}

    def _new_pool(
        self, scheme: str, host: str, port: int, request_context: dict[str, Any] | None = None
    ) -> HTTPConnectionPool:
        pool = super()._new_pool(scheme, host, port, request_context)
        pool.conn_kw["allowed_networks"] = self.allowed_networks  # passed on to each new connection
        return pool


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, allowed_networks: list[ssrf.IPNetwork]) -> None:
        self.allowed_networks = allowed_networks
        super().__init__(max_retries=0)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **kw: Any) -> None:
        self._pool_connections, self._pool_maxsize, self._pool_block = connections, maxsize, block
        self.poolmanager = _GuardedPoolManager(
            self.allowed_networks, num_pools=connections, maxsize=maxsize, block=block, **kw
        )

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise ssrf.AddressRefused("refused: requests never go through a proxy")


def _closed_before_answering(exc: BaseException, depth: int = 0) -> bool:
    # requests and urllib3 wrap the socket-level cause in their own errors, as an argument.
    if isinstance(exc, (RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
        return True
    inner = [arg for arg in exc.args if isinstance(arg, BaseException)]
    return depth < 5 and any(_closed_before_answering(arg, depth + 1) for arg in inner)


class _Sessions(threading.local):
    """One session per thread and allow-list, so connections to a receiver are kept alive between
    steps (a new session and TCP connection per request cost the worker ~2 ms of CPU).

    Keyed by the allow-list: a pooled connection was checked against that list when it was opened,
    so it is only reused under the same list."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[tuple[str, ...], str | None], requests.Session] = {}

    def get(self, networks: list[ssrf.IPNetwork], ca_bundle: str | None) -> requests.Session:
        key = (tuple(str(n) for n in networks), ca_bundle)
        session = self.by_key.get(key)
        if session is None:
            session = self.by_key[key] = _guarded_session(networks, ca_bundle)
        return session

    def fresh(self, networks: list[ssrf.IPNetwork], ca_bundle: str | None) -> requests.Session:
        old = self.by_key.pop((tuple(str(n) for n in networks), ca_bundle), None)
        if old is not None:
            old.close()
        return self.get(networks, ca_bundle)

    @staticmethod
    def was_used(session: requests.Session) -> bool:
        return bool(getattr(session, "orchestrator_used", False))

    @staticmethod
    def mark_used(session: requests.Session) -> None:
        session.orchestrator_used = True  # type: ignore[attr-defined]


_sessions = _Sessions()


def _guarded_session(networks: list[ssrf.IPNetwork], ca_bundle: str | None) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    if ca_bundle:
        session.verify = ca_bundle
    adapter = _GuardedAdapter(networks)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
