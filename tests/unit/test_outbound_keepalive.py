"""Kept-alive connections between steps, and the one case where a request is sent again.

A real server on loopback that closes a kept-alive connection when the next request arrives on it,
without answering: what a receiver's idle timeout looks like when it fires just as we send."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from actions import outbound

LOOPBACK_ONLY = ["127.0.0.1/32"]
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


class DroppingServer:
    """Answers the first request on each connection and keeps it open; a second request on the same
    connection is read and dropped unanswered (or every request is, with ``answer_first=False``)."""

    def __init__(self, *, answer_first: bool = True) -> None:
        self.answer_first = answer_first
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.requests: list[bytes] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        with conn:
            for number in (1, 2):
                request = _read_request(conn)
                if not request:
                    return
                with self._lock:
                    self.requests.append(request)
                if number == 1 and self.answer_first:
                    conn.sendall(OK)
                    continue
                return  # closed without a byte of answer

    def close(self) -> None:
        self.sock.close()


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


@pytest.fixture
def server() -> Iterator[DroppingServer]:
    srv = DroppingServer()
    yield srv
    srv.close()


def send(port: int, body: bytes) -> outbound.OutboundResponse:
    return outbound.send(
        method="POST", url=f"http://127.0.0.1:{port}/hook", headers={}, data=body, timeout=5,
        allowed_networks=LOOPBACK_ONLY,
    )  # fmt: skip


def test_consecutive_requests_share_one_connection() -> None:
    srv = DroppingServer()
    try:
        assert send(srv.port, b"first").status == 200
        # The second request goes down the kept-alive connection and is dropped there; it is sent again
        # on a new connection, which answers: the caller sees one success.
        assert send(srv.port, b"second").status == 200
        assert srv.connections == 2
        bodies = [r.rsplit(b"\r\n\r\n", 1)[1] for r in srv.requests]
        assert bodies == [b"first", b"second", b"second"]
    finally:
        srv.close()


def test_a_new_connection_closed_unanswered_is_an_error_and_not_sent_twice() -> None:
    srv = DroppingServer(answer_first=False)
    try:
        # Sessions are kept per thread and allow-list, and other tests of this process used theirs:
        # an allow-list no other test uses makes this request start on a session never used.
        with pytest.raises(outbound.OutboundError) as raised:
            outbound.send(
                method="POST", url=f"http://127.0.0.1:{srv.port}/hook", headers={}, data=b"x", timeout=5,
                allowed_networks=["127.0.0.0/9"],
            )  # fmt: skip
        assert raised.value.retryable
        assert len(srv.requests) == 1
    finally:
        srv.close()


def test_when_the_new_connection_is_closed_unanswered_too_the_step_gets_the_error() -> None:
    srv = DroppingServer(answer_first=False)
    try:
        networks = ["127.0.0.0/10"]  # this test's own session
        keeper = DroppingServer()
        try:
            outbound.send(
                method="POST",
                url=f"http://127.0.0.1:{keeper.port}/hook",
                headers={},
                data=b"x",
                timeout=5,
                allowed_networks=networks,
            )  # fmt: skip  (the session is now a used one)
        finally:
            keeper.close()
        with pytest.raises(outbound.OutboundError) as raised:
            outbound.send(
                method="POST", url=f"http://127.0.0.1:{srv.port}/hook", headers={}, data=b"y", timeout=5,
                allowed_networks=networks,
            )  # fmt: skip
        assert raised.value.retryable
        # Sent on the used session, then once more on a new one: never more than twice.
        assert len(srv.requests) == 2
    finally:
        srv.close()
