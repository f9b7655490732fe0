"""The run's wake-up message, pushed straight onto its Redis queue as Celery would have pushed it.

``apply_async`` costs about 0.35 ms of CPU per message (routing, a dozen configuration lookups, the
message built through several layers, kombu's channel): on the receive path that was as much as the
database work of accepting the webhook. Yet the message is always the same: ``execute_run(run_id)``
to the run's shard queue. With a plain ``redis://`` broker this module builds Celery's protocol-2
message itself (https://docs.celeryq.dev/en/stable/internals/protocol.html) and LPUSHes it onto the
queue's list, where kombu's Redis transport would (``Channel._put``: the anonymous exchange routes by
queue name, priority 0 is the bare list) — 0.09 ms. tests/integration/test_run_publisher.py checks
that the message equals Celery's field by field, and a real worker runs it there and in every other
integration test. Any other broker (the filesystem broker of ``make run``, TLS, Sentinel, transport
options that change keys) goes through Celery.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import uuid
from functools import cache, lru_cache
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

TASK_NAME = "workflows.execute_run"

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def publish_run_directly(app: Any, *, run_id: int, queue: str) -> bool:
    """Push the run's message onto its queue; False when this broker needs Celery to publish.
    Raises redis errors: the caller leaves the run to the sweeper."""
    client = direct_client(app)
    if client is None:
        return False
    task = app.tasks[TASK_NAME]
    message = run_message(
        run_id=run_id,
        queue=queue,
        origin=_origin(os.getpid()),
        reply_to=app.thread_oid,
        ignore_result=bool(task.ignore_result),
    )
    client.lpush(queue, message)
    return True


@cache
def _origin(pid: int) -> str:
    # Celery's "gen<pid>@<host>"; keyed by pid, as gunicorn forks its workers after importing us.
    from celery.utils.nodenames import anon_nodename

    return anon_nodename()


def direct_client(app: Any) -> redis.Redis | None:
    """A Redis client for the app's broker when messages can be pushed directly, else None."""
    conf = app.conf
    url: str = conf.broker_url or ""
    if not url.startswith("redis://") or conf.broker_transport_options:
        return None
    client = _clients.get(url)
    if client is None:
        with _clients_lock:
            client = _clients.get(url)
            if client is None:
                timeout = float(conf.broker_connection_timeout or 2)
                client = redis.Redis.from_url(
                    url,
                    socket_connect_timeout=timeout,
                    socket_timeout=timeout,
                    # One immediate retry on a connection found broken (Redis restarted, or an idle
                    # connection was dropped); a second failure means the broker is down.
                    retry=Retry(NoBackoff(), 1),
                )
                _clients[url] = client
    return client


def run_message(*, run_id: int, queue: str, origin: str, reply_to: str, ignore_result: bool) -> bytes:
    """kombu's Redis envelope around Celery's protocol-2 message for ``execute_run(run_id)``."""
    task_id = str(uuid.uuid4())
    # [args, kwargs, embed], written as kombu's json serializer writes it.
    body = f'[[{int(run_id)}], {{}}, {{"callbacks": null, "errbacks": null, "chain": null, "chord": null}}]'
    values = {
        "body": base64.b64encode(body.encode()).decode(),
        "argsrepr": f"({int(run_id)},)",
        "id": task_id,
        "root_id": task_id,
        "correlation_id": task_id,
        "delivery_tag": str(uuid.uuid4()),
    }
    # Filled into an envelope written once per queue: json.dumps of the whole of it, for each webhook,
    # was a twentieth of the receive path's CPU. Nothing filled in needs escaping in JSON.
    first, *rest = _envelope(queue, origin, reply_to, ignore_result)
    parts = [first]
    for hole, text in rest:
        parts += (values[hole], text)
    return "".join(parts).encode()


_HOLE = "\x1f{}\x1f"  # a placeholder: json.dumps writes it as "\u001f...\u001f", found below


# Bounded: reply_to is Celery's per-thread oid, so a process whose threads come and go would add keys.
@lru_cache(maxsize=256)
def _envelope(queue: str, origin: str, reply_to: str, ignore_result: bool) -> tuple[Any, ...]:
    """The envelope as JSON, cut where the per-message values go: its first piece, then pairs of
    (hole, the text after it)."""
    envelope = {
        "body": _HOLE.format("body"),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "py",
            "task": TASK_NAME,
            "id": _HOLE.format("id"),
            "shadow": None,
            "eta": None,
            "expires": None,
            "group": None,
            "group_index": None,
            "retries": 0,
            "timelimit": [None, None],
            "root_id": _HOLE.format("root_id"),
            "parent_id": None,
            "argsrepr": _HOLE.format("argsrepr"),
            "kwargsrepr": "{}",
            "origin": origin,
            "ignore_result": ignore_result,
            "replaced_task_nesting": 0,
            "stamped_headers": None,
            "stamps": {},
        },
        "properties": {
            "correlation_id": _HOLE.format("correlation_id"),
            "reply_to": reply_to,
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": _HOLE.format("delivery_tag"),
        },
    }
    first, *rest = re.split(r"\\u001f(\w+)\\u001f", json.dumps(envelope))
    return (first, *zip(rest[0::2], rest[1::2], strict=True))
