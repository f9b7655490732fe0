"""The production web server spreads kept-alive connections over its worker processes
(orchestrator/gunicorn_conf.py, reuse_port): a sender's connection pool must not end up on one
process while the other idles."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tests.integration.gunicorn_server import GunicornServer

pytestmark = pytest.mark.django_db(transaction=True)

CONNECTIONS = 16


def _owners(port: int, state: str) -> Counter[int]:
    """Sockets on ``port`` in ``state``, counted by the pid that holds them (``ss`` from iproute2)."""
    listing = subprocess.run(
        ["ss", "-Htnp", "state", state, f"( sport = :{port} )"], capture_output=True, text=True, check=True
    ).stdout
    owners: Counter[int] = Counter()
    for line in listing.splitlines():
        for part in line.split("pid=")[1:]:
            owners[int(part.split(",", 1)[0])] += 1
    return owners


@pytest.mark.skipif(not Path("/usr/bin/ss").exists() and not Path("/bin/ss").exists(), reason="no ss")
def test_each_worker_listens_and_kept_alive_connections_spread(server: GunicornServer) -> None:
    listeners = _owners(server.port, "listening")
    assert len(listeners) == 2, f"one listening socket per worker process expected: {listeners}"

    sockets = [server.connect(timeout=10) for _ in range(CONNECTIONS)]
    try:
        request = b"POST /hooks/nosuchtrigger/key HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
        for sock in sockets:
            sock.sendall(request)
        for sock in sockets:
            assert sock.recv(65536).startswith(b"HTTP/1.1 404")  # answered, and kept alive
        held = _owners(server.port, "established")
        assert set(held) <= set(listeners)
        assert sum(held.values()) == CONNECTIONS
        # The kernel hashes connections over the two sockets: all 16 on one has a chance of 2 in 65,536.
        assert len(held) == 2, f"every connection went to one process: {held}"
    finally:
        for sock in sockets:
            sock.close()
