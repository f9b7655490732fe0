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
import threading
import uuid
from functools import cache
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
    body = json.dumps([[run_id], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}])
    envelope = {
        "body": base64.b64encode(body.encode()).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "py",
            "task": TASK_NAME,
            "id": task_id,
            "shadow": None,
            "eta": None,
            "expires": None,
            "group": None,
            "group_index": None,
            "retries": 0,
            "timelimit": [None, None],
            "root_id": task_id,
            "parent_id": None,
            "argsrepr": f"({run_id},)",
            "kwargsrepr": "{}",
            "origin": origin,
            "ignore_result": ignore_result,
            "replaced_task_nesting": 0,
            "stamped_headers": None,
            "stamps": {},
        },
        "properties": {
            "correlation_id": task_id,
            "reply_to": reply_to,
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    return json.dumps(envelope).encode()
