"""A real gunicorn serving the project as README documents for production
(``gunicorn -c python:orchestrator.gunicorn_conf orchestrator.wsgi``), and a raw-socket HTTP client for
talking to it in ways no HTTP library will: truncated bodies, stalls, broken chunking, oversized heads.

The server runs in its own session (process group) and is ended with its workers; its stdout (the access
log, one line per request that reached the application, with the webhook key redacted) and stderr go to
a log file that tests read to know when the server has finished with a request they walked away from.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.integration.processes import REPO, free_loopback_port, log_tail, wait_until

GUNICORN = str(Path(sys.executable).parent / "gunicorn")
# Environment that would change how gunicorn runs, inherited from whoever started pytest: the tests
# run the product's configuration, so only what they set themselves applies.
_SERVER_VARIABLES = (
    "GUNICORN_CMD_ARGS",
    "WEB_BIND",
    "WEB_WORKERS",
    "WEB_THREADS",
    "WEB_ACCESS_LOG",
    "WEB_REUSE_PORT",
)


def inherited_env() -> dict[str, str]:
    """This process's environment without the variables that configure gunicorn itself."""
    return {k: v for k, v in os.environ.items() if k not in _SERVER_VARIABLES}


_ACCESS_LINE = re.compile(r'"(?P<method>\S+) (?P<path>\S+) [^"]*" (?P<status>\d{3}) ')


@dataclass
class Answer:
    """What came back on one connection."""

    raw: bytes
    ended: bool  # the server closed (or reset) the connection before the client stopped waiting
    reset: bool = False
    status: int | None = None  # None: the connection ended without an HTTP answer
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def status_line(self) -> str:
        return self.raw.split(b"\r\n", 1)[0].decode("latin-1")


def parse_answer(raw: bytes, *, ended: bool, reset: bool) -> Answer:
    answer = Answer(raw=raw, ended=ended, reset=reset)
    head, separator, body = raw.partition(b"\r\n\r\n")
    match = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    if not separator or match is None:
        return answer
    answer.status = int(match.group(1))
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        answer.headers[name.strip().lower()] = value.strip()
    answer.body = _dechunk(body) if answer.headers.get("transfer-encoding") == "chunked" else body
    return answer


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return bytes(out)


class GunicornServer:
    def __init__(self, env: Mapping[str, str], directory: Path, *, args: Sequence[str] = ()) -> None:
        """``env``: the server's whole environment (start from ``inherited_env()``)."""
        self.port = free_loopback_port()
        self.directory = directory
        self.log = directory / "gunicorn.log"
        self.args = list(args)
        # The product's own configuration file reads these: bind on loopback, access log on stdout.
        self.env = dict(env) | {
            "WEB_BIND": f"127.0.0.1:{self.port}",
            "WEB_ACCESS_LOG": "-",
            "PYTHONUNBUFFERED": "1",
        }
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def start(self) -> None:
        # --no-control-socket: gunicorn's control socket lives at one path per user, which parallel
        # servers (other tests, other checkouts) would fight over; nothing here uses it.
        command = [GUNICORN, "-c", "python:orchestrator.gunicorn_conf", "--no-control-socket", *self.args]
        command.append("orchestrator.wsgi")
        with self.log.open("ab") as out:
            self._process = process = subprocess.Popen(
                command,
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def answers() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"gunicorn exited with {process.returncode}:\n{log_tail(self.log)}")
            # Up, with the application loaded and the database reachable: an unknown webhook is a 404.
            probe = b"POST /hooks/readiness/probe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
            try:
                return self.exchange(probe, timeout=5).status == 404
            except OSError:
                return False

        wait_until(answers, timeout=60, what=f"gunicorn on port {self.port} (log: {self.log})", interval=0.2)

    def __enter__(self) -> GunicornServer:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)

    def connect(self, timeout: float) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=timeout)
        sock.settimeout(timeout)
        return sock

    def exchange(self, data: bytes, *, timeout: float = 30, half_close: bool = True) -> Answer:
        """Send ``data`` on a new connection, optionally say "nothing more" (half-close), then read until
        the server closes or ``timeout`` passes without a byte. Requests should say Connection: close."""
        with self.connect(timeout) as sock:
            # The server may answer and close before it has read everything (a refusal on the headers);
            # what it answered is still there to read.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(data)
                if half_close:
                    sock.shutdown(socket.SHUT_WR)
            return read_answer(sock)

    def requests_served(self, needle: str) -> list[int]:
        """Statuses in gunicorn's access log of the requests whose path contains ``needle``, in order.

        A request the application handled is logged after its answer was written (or failed to be),
        so after its database writes; gunicorn also logs the requests it refused itself once it had
        read their request line."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return [int(m.group("status")) for m in _ACCESS_LINE.finditer(text) if needle in m.group("path")]

    def wait_for_served(self, needle: str, count: int, *, timeout: float = 60) -> list[int]:
        def served() -> list[int] | None:
            statuses = self.requests_served(needle)
            return statuses if len(statuses) >= count else None

        return wait_until(served, timeout=timeout, what=f"{count} request(s) to {needle} in {self.log}")

    def log_text(self) -> str:
        return log_tail(self.log, lines=400)


def read_answer(sock: socket.socket) -> Answer:
    """Everything until the server closes, resets, or falls silent for the socket's timeout."""
    chunks: list[bytes] = []
    ended = reset = False
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                ended = True
                break
            chunks.append(chunk)
    except ConnectionResetError:
        ended = reset = True
    except TimeoutError:
        pass
    return parse_answer(b"".join(chunks), ended=ended, reset=reset)


def request_head(method: str, path: str, headers: Mapping[str, Any] | Sequence[tuple[str, Any]]) -> bytes:
    """``METHOD path HTTP/1.1`` and the headers as given (a sequence allows repeats), with
    ``Host`` and ``Connection: close`` first."""
    items = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in items]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunked(body: bytes, *, size: int = 4096) -> bytes:
    """``body`` in valid chunked encoding, ``size`` bytes a chunk, with the last chunk and no trailers."""
    out = bytearray()
    for start in range(0, len(body), size):
        piece = body[start : start + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return bytes(out + b"0\r\n\r\n")
