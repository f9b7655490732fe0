"""urllib3 connection pools with the SSRF guard inside the connection, kept per thread and allow-list.

A new connection resolves its host once, checks every address (actions/ssrf.py) and dials exactly
a checked address; the Host header, TLS SNI and certificate checks still use the name in the URL.
Pools are kept between steps, so a receiver's connection stays alive from one step to the next (a new
TCP connection per request cost the worker ~2 ms of CPU).
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

import certifi
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.poolmanager import PoolManager
from urllib3.util.connection import create_connection

from actions import ssrf

# What requests' HTTPAdapter used (and outbound.py used through it until it spoke urllib3 directly).
POOLS_PER_MANAGER = 10
CONNECTIONS_PER_POOL = 10


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


class _Guarded:
    """Mixed into urllib3's connection classes: dial only an address the guard checked."""

    def __init__(self, *args: Any, allowed_networks: list[ssrf.IPNetwork], **kwargs: Any) -> None:
        self.allowed_networks = allowed_networks
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        return _dial(self, self.allowed_networks)  # type: ignore[arg-type]


class _GuardedHTTPConnection(_Guarded, HTTPConnection):
    pass


# HTTPSConnection.connect() wraps the socket from _new_conn() with server_hostname=self.host, so SNI and
# certificate checks are made against the name in the URL, not the dialled address.
class _GuardedHTTPSConnection(_Guarded, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class GuardedPoolManager(PoolManager):
    """Never goes through a proxy (none is ever configured here, and the environment is not read)."""

    def __init__(self, allowed_networks: list[ssrf.IPNetwork], ca_bundle: str | None) -> None:
        # Certificates are checked against certifi's CAs, as requests did, or against the caller's.
        where = ca_bundle or certifi.where()
        in_dir = os.path.isdir(where)
        super().__init__(
            num_pools=POOLS_PER_MANAGER, maxsize=CONNECTIONS_PER_POOL, block=False, cert_reqs="CERT_REQUIRED",
            ca_certs=None if in_dir else where, ca_cert_dir=where if in_dir else None,
        )  # fmt: skip
        self.allowed_networks = allowed_networks
        self.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}
        self.used = False  # a request went out through it: its connections may be kept-alive ones

    def _new_pool(
        self, scheme: str, host: str, port: int, request_context: dict[str, Any] | None = None
    ) -> HTTPConnectionPool:
        pool = super()._new_pool(scheme, host, port, request_context)
        pool.conn_kw["allowed_networks"] = self.allowed_networks  # passed on to each new connection
        return pool


PoolKey = tuple[tuple[str, ...], str | None]


class PoolsByThread(threading.local):
    """One pool manager per thread and allow-list. Keyed by the allow-list: a pooled connection was
    checked against that list when it was opened, so it is only reused under the same list."""

    def __init__(self) -> None:
        self.by_key: dict[PoolKey, GuardedPoolManager] = {}

    def get(self, networks: list[ssrf.IPNetwork], ca_bundle: str | None) -> GuardedPoolManager:
        key = (tuple(str(n) for n in networks), ca_bundle)
        manager = self.by_key.get(key)
        if manager is None:
            manager = self.by_key[key] = GuardedPoolManager(networks, ca_bundle)
        return manager

    def fresh(self, networks: list[ssrf.IPNetwork], ca_bundle: str | None) -> GuardedPoolManager:
        """A new manager in place of the old one, whose connections are closed."""
        old = self.by_key.pop((tuple(str(n) for n in networks), ca_bundle), None)
        if old is not None:
            old.clear()
        return self.get(networks, ca_bundle)
