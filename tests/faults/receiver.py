"""The system the steps call: a real HTTP server that answers 200 after ``--delay`` seconds (50 ms by
default: a fast receiver, yet a step spends long enough in flight for a killed worker to be cut off
mid-request) and notes every request.

Runs as a process of its own (``python -m tests.faults.receiver --port P``), so that neither its CPU
nor its GIL competes with the senders in the test process, and it outlives every fault the tests inject
(only the product is ever broken, never the receiver).

For each request it records the scenario (the last path segment of ``/hook/<scenario>``), the run id
and webhook number the step templates into ``X-Faults-Run`` and ``X-Faults-N``, and the
``Idempotency-Key`` header the product adds to every attempt.

Control endpoint (the test's, never called by the product):
``GET /_records/<scenario>`` → ``{"records": [[run, n, idempotency key], ...]}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import defaultdict

RUN_HEADER = b"x-faults-run"
N_HEADER = b"x-faults-n"
KEY_HEADER = b"idempotency-key"

Record = tuple[int, int, str]


def _number(value: bytes | None) -> int:
    """A templated number as sent ("12"), or -1 when it is missing or not a number."""
    text = (value or b"").decode("ascii", errors="replace").strip().strip('"')
    return int(text) if text.isdigit() else -1


def _response(status: str, body: bytes, keep_alive: bool) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode() + body


class Receiver:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.records: dict[str, list[Record]] = defaultdict(list)

    async def handle_one(self, reader: asyncio.StreamReader) -> tuple[bytes, bool] | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            return None
        lines = head.split(b"\r\n")
        method, path, version = lines[0].split(b" ", 2)
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get(b"content-length", b"0") or 0)
        if length:
            await reader.readexactly(length)
        keep_alive = version == b"HTTP/1.1" and headers.get(b"connection", b"").lower() != b"close"
        text = path.decode("ascii", errors="replace").split("?", 1)[0]
        if method == b"GET" and text.startswith("/_records/"):
            scenario = text.removeprefix("/_records/")
            body = json.dumps({"records": self.records.get(scenario, [])}).encode()
            return _response("200 OK", body, keep_alive), keep_alive
        if text.startswith("/hook/"):
            key = headers.get(KEY_HEADER, b"").decode("ascii", errors="replace")
            record = (_number(headers.get(RUN_HEADER)), _number(headers.get(N_HEADER)), key)
            # Noted as soon as the request is in: the step was sent, whatever happens to it next.
            self.records[text.removeprefix("/hook/")].append(record)
            if self.delay:
                await asyncio.sleep(self.delay)
            return _response("200 OK", b'{"ok":true}', keep_alive), keep_alive
        return _response("404 Not Found", b'{"error":"not_found"}', keep_alive), keep_alive

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                answer = await self.handle_one(reader)
                if answer is None:
                    break
                writer.write(answer[0])
                await writer.drain()
                if not answer[1]:
                    break
        except (ConnectionError, ValueError, asyncio.IncompleteReadError):
            pass  # a client gone mid-request (a worker SIGKILLed while sending): drop the connection
        finally:
            writer.close()


async def serve(port: int, delay: float) -> None:
    receiver = Receiver(delay)
    server = await asyncio.start_server(receiver.serve_connection, "127.0.0.1", port, backlog=1024)
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
