"""The python engine of the load generator, as a process of its own (``python -m bench.sender``):
reads a ``LoadSpec`` as JSON on stdin, prints ``W`` when the measured window starts and ``E`` when
it ends, then the result as one line of JSON (bench/loadgen.py runs it and reads it back). asyncio with
plain protocol callbacks, no coroutine per request: the generator's CPU is taken from the server."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from bench.loadgen import IDLE_RECONNECT_S, LoadSpec

# --- the generator's side -------------------------------------------------------------------------


class _Shared:
    """What the senders share: the request, the clock, the counters."""

    def __init__(self, spec: LoadSpec) -> None:
        parts = urlsplit(spec.url)
        self.spec = spec
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        head = [f"{spec.method} {target} HTTP/1.1", f"Host: {parts.netloc}", "User-Agent: bench-loadgen"]
        head.append(f"Content-Length: {len(spec.body)}")
        if spec.content_type:
            head.append(f"Content-Type: {spec.content_type}")
        head += [f"{name}: {value}" for name, value in spec.headers.items()]
        self.request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + spec.body
        self.loop = asyncio.get_running_loop()
        self.start = time.perf_counter()
        self.start_wall = time.time()
        self.window_start = self.start + spec.warmup
        self.window_end = self.window_start + spec.duration if not spec.total else float("inf")
        self.numbers = 0  # requests handed out
        self.completed = 0  # answered inside the window
        self.latencies: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.all_statuses: Counter[str] = Counter()
        self.accepted: list[tuple[int, float, float]] = []
        self.first_sent = float("inf")
        self.last_done = 0.0
        self.all_done = asyncio.Event()
        self.senders_left = spec.concurrency

    def next_number(self) -> int | None:
        """The next request's number, or None when no more requests are to be sent."""
        spec = self.spec
        if spec.total and self.numbers >= spec.total:
            return None
        if not spec.total and time.perf_counter() >= self.window_end:
            return None
        self.numbers += 1
        return self.numbers - 1

    def sender_finished(self) -> None:
        self.senders_left -= 1
        if self.senders_left == 0:
            self.all_done.set()

    def record(self, status: str, sent: float, done: float, body: bytes | None) -> None:
        self.all_statuses[status] += 1
        in_window = self.spec.total or self.window_start <= done <= self.window_end
        if in_window:
            self.completed += 1
            self.statuses[status] += 1
            self.latencies.append(done - sent)
            self.first_sent = min(self.first_sent, sent)
            self.last_done = max(self.last_done, done)
        if body is not None and status == "202" and self.spec.keep_run_ids:
            try:
                run_id = int(json.loads(body)["run_id"])
            except (ValueError, KeyError, TypeError):
                return
            wall = self.start_wall - self.start
            self.accepted.append((run_id, wall + sent, wall + done))


class _Connection(asyncio.Protocol):
    """One kept-alive connection of a sender. Plain callbacks, no coroutine per request: the
    generator's CPU per request is what decides whether it takes CPU from the server."""

    def __init__(self, sender: _Sender) -> None:
        self.sender = sender
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiting = False  # a request is out and its answer is not complete yet
        self.closed = False
        self.idle_since = time.perf_counter()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, request: bytes) -> None:
        assert self.transport is not None
        self.buffer.clear()
        self.waiting = True
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiting:
            answer = _parse(self.buffer)
            if answer is not None:
                self._answered(*answer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiting:
            self._answered(type(exc).__name__ if exc else "ServerClosed", None, True)

    def time_out(self) -> None:
        if self.waiting:
            self._answered("Timeout", None, True)
            if self.transport is not None:
                self.transport.abort()

    def _answered(self, status: str, body: bytes | None, finished: bool) -> None:
        self.waiting = False
        self.idle_since = time.perf_counter()
        self.sender.answered(self, status, body, finished)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _parse(buffer: bytearray) -> tuple[str, bytes | None, bool] | None:
    """(status, body, whether the server closes) of the complete answer in ``buffer``; None while it
    is not complete."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    # gunicorn spells it so; other servers may not (HTTP header names are case-insensitive)
    head = bytes(buffer[:end])
    if b"\r\nContent-Length:" not in head:
        head = head.lower().replace(b"\r\ncontent-length:", b"\r\nContent-Length:")
    length_at = head.find(b"\r\nContent-Length:")
    body: bytes | None
    if length_at >= 0:
        line_end = head.find(b"\r\n", length_at + 2)
        length = int(head[length_at + 17 : line_end if line_end >= 0 else None])
        if len(buffer) < end + 4 + length:
            return None
        body = bytes(buffer[end + 4 : end + 4 + length])
    elif b"\r\ntransfer-encoding: chunked" in head.lower():
        if not buffer.endswith(b"0\r\n\r\n"):
            return None
        body = None  # nobody needs a chunked body so far
    else:
        body = b""
    return bytes(buffer[9:12]).decode("latin-1"), body, b"\r\nconnection: close" in head.lower()


class _Sender:
    """One sender: one connection at a time (a new one after an error or the server's close), one
    request at a time on it."""

    def __init__(self, shared: _Shared) -> None:
        self.shared = shared
        self.connection: _Connection | None = None
        self.sent_at = 0.0

    def next(self) -> None:
        """Send the next request (at its time, when paced), or finish."""
        shared = self.shared
        number = shared.next_number()
        if number is None:
            self._finish()
            return
        if shared.spec.rate:
            delay = shared.start + number / shared.spec.rate - time.perf_counter()
            if delay > 0:
                shared.loop.call_later(delay, self._send)
                return
        self._send()

    def _send(self) -> None:
        connection, now = self.connection, time.perf_counter()
        if connection is not None and (connection.closed or now - connection.idle_since > IDLE_RECONNECT_S):
            connection.close()  # idle this long, the server may close it just as the request arrives
            connection = self.connection = None
        if connection is None:
            self._connect()  # and send once connected
            return
        self.sent_at = now
        connection.send(self.shared.request)

    def _connect(self) -> None:
        shared = self.shared
        task = shared.loop.create_task(
            shared.loop.create_connection(lambda: _Connection(self), shared.host, shared.port)
        )
        task.add_done_callback(self._connected)

    def _connected(self, task: asyncio.Task[tuple[asyncio.BaseTransport, _Connection]]) -> None:
        error = task.exception()
        if error is not None:  # the request is lost: counted as failed with the error's name
            now = time.perf_counter()
            self.shared.record(type(error).__name__, now, now, None)
            self.shared.loop.call_later(0.05, self.next)
            return
        self.connection = task.result()[1]
        self._send()

    def answered(self, connection: _Connection, status: str, body: bytes | None, finished: bool) -> None:
        if connection is not self.connection:
            return
        self.shared.record(status, self.sent_at, connection.idle_since, body)
        if finished:
            connection.close()
            self.connection = None
        self.next()

    def _finish(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None
        self.shared.sender_finished()


async def _generate(spec: LoadSpec) -> dict[str, Any]:
    shared = _Shared(spec)
    senders = [_Sender(shared) for _ in range(spec.concurrency)]
    for sender in senders:
        sender.next()
    shared.loop.call_later(1, _time_out_slow_answers, shared, senders)
    cpu_start = cpu_end = 0.0
    if not spec.total:
        await asyncio.sleep(max(0.0, shared.window_start - time.perf_counter()))
        cpu_start = time.process_time()
        _mark("W")
        await asyncio.sleep(max(0.0, shared.window_end - time.perf_counter()))
        cpu_end = time.process_time()
        _mark("E")
        window = spec.duration
    else:
        cpu_start = time.process_time()
        _mark("W")
    try:
        # Answers still on their way: wait for them (they count in all_statuses, not in the window).
        await asyncio.wait_for(shared.all_done.wait(), timeout=spec.timeout + 5 + (3600 if spec.total else 0))
    except TimeoutError:
        print(f"gave up waiting for the last answers ({shared.senders_left} senders)", file=sys.stderr)
    if spec.total:
        cpu_end = time.process_time()
        _mark("E")
        window = max(0.0, shared.last_done - shared.first_sent) if shared.completed else 0.0
    return {
        "concurrency": spec.concurrency,
        "window_s": window,
        "completed": shared.completed,
        "statuses": dict(shared.statuses),
        "latencies": [round(value, 6) for value in shared.latencies],
        "cpu_s": cpu_end - cpu_start,
        "sent": shared.numbers,
        "all_statuses": dict(shared.all_statuses),
        "started_at": shared.start_wall,
        "accepted": shared.accepted,
    }


def _time_out_slow_answers(shared: _Shared, senders: list[_Sender]) -> None:
    """Once a second rather than a timer per request (which would cost the generator CPU)."""
    now = time.perf_counter()
    for sender in senders:
        connection = sender.connection
        if connection is not None and connection.waiting and now - sender.sent_at > shared.spec.timeout:
            connection.time_out()
    if shared.senders_left:
        shared.loop.call_later(1, _time_out_slow_answers, shared, senders)


def _mark(marker: str) -> None:
    sys.stdout.write(marker + "\n")
    sys.stdout.flush()


def main() -> None:
    data = json.loads(sys.stdin.read())
    data["body"] = base64.b64decode(data["body"])
    spec = LoadSpec(**data)
    result = asyncio.run(_generate(spec))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
