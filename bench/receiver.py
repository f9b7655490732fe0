"""The receiver the steps call: answers 200 after a fixed delay and notes when each request arrived.

Runs as a process of its own (``python -m bench.receiver --port P --delay 0.05``) so that neither its
CPU nor its GIL competes with the load generator. asyncio rather than a thread per connection: a
sleeping request then costs a timer, not a thread, and the receiver stays cheap next to the worker
it measures.

Control endpoints (the harness's, never called by the product):
- ``GET /_records`` → ``{"records": [[run id, unix time received], ...], "peak_in_flight": n}``
- ``POST /_reset`` forgets the records.
A request's run id is read from the ``X-Bench-Run`` header the step sends (0 when missing).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field

RUN_HEADER = b"x-bench-run"


@dataclass
class State:
    delay: float
    records: list[tuple[int, float]] = field(default_factory=list)
    in_flight: int = 0
    peak_in_flight: int = 0


def _response(status: str, body: bytes, keep_alive: bool) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode() + body


async def _handle_one(state: State, reader: asyncio.StreamReader) -> tuple[bytes, bool] | None:
    """Read one request and build its answer; None when the client closed the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    received = time.time()  # as soon as the request's head is in: the step's "request sent" moment
    lines = head.split(b"\r\n")
    method, path, version = lines[0].split(b" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get(b"content-length", b"0") or 0)
    if length:
        await reader.readexactly(length)
    keep_alive = version == b"HTTP/1.1" and headers.get(b"connection", b"").lower() != b"close"
    if path == b"/_records":
        body = json.dumps({"records": state.records, "peak_in_flight": state.peak_in_flight}).encode()
        return _response("200 OK", body, keep_alive), keep_alive
    if path == b"/_reset" and method == b"POST":
        state.records.clear()
        state.peak_in_flight = 0
        return _response("200 OK", b"{}", keep_alive), keep_alive
    run_id = headers.get(RUN_HEADER, b"0")
    state.records.append((int(run_id) if run_id.isdigit() else 0, received))
    state.in_flight += 1
    state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
    try:
        await asyncio.sleep(state.delay)
    finally:
        state.in_flight -= 1
    return _response("200 OK", b'{"ok":true}', keep_alive), keep_alive


async def _serve_connection(state: State, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            answer = await _handle_one(state, reader)
            if answer is None:
                break
            writer.write(answer[0])
            await writer.drain()
            if not answer[1]:
                break
    except (ConnectionError, ValueError):
        pass  # a client that goes away mid-request, or a malformed request line: just drop it
    finally:
        writer.close()


async def serve(port: int, delay: float) -> None:
    state = State(delay=delay)
    server = await asyncio.start_server(
        lambda r, w: _serve_connection(state, r, w), "127.0.0.1", port, backlog=4096
    )
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.05, help="seconds before answering")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.delay))


if __name__ == "__main__":
    main()
