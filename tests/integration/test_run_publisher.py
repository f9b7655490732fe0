"""The run messages pushed straight onto Redis (workflows/run_publisher.py) are the messages Celery
would have published, and a real worker runs them."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import redis

from orchestrator.celery import app
from tests.integration.processes import RedisServer
from workflows.run_publisher import direct_client, publish_run_directly
from workflows.tasks import execute_run

# Fields that differ between any two messages: fresh ids, and the publishing process's name.
PER_MESSAGE = {"id", "root_id", "correlation_id", "delivery_tag"}


def _pop(client: redis.Redis, queue: str) -> dict[str, Any]:
    raw: Any = client.rpop(queue)
    assert raw is not None, f"nothing was published to {queue}"
    message: dict[str, Any] = json.loads(raw)
    return message


def _comparable(message: dict[str, Any]) -> dict[str, Any]:
    for field in PER_MESSAGE:
        for part in (message["headers"], message["properties"]):
            if field in part:
                uuid.UUID(part.pop(field))  # present, and a UUID
    message["body"] = json.loads(base64.b64decode(message["body"]))
    return message


def test_the_direct_message_is_the_one_celery_publishes(redis_server: RedisServer) -> None:
    client = direct_client(app)
    assert client is not None, "a redis:// broker without transport options takes the direct path"
    # A queue no worker consumes (the session's workers may be running): the messages stay to be read.
    queue = "test.run_publisher"
    client.delete(queue)

    with app.producer_or_acquire() as producer:
        execute_run.apply_async((4242,), queue=queue, retry=False, producer=producer)
    celerys = _comparable(_pop(client, queue))
    assert publish_run_directly(app, run_id=4242, queue=queue)
    ours = _comparable(_pop(client, queue))

    assert ours == celerys
    assert ours["body"][0] == [4242]
    assert ours["properties"]["delivery_info"]["routing_key"] == queue
    assert client.llen(queue) == 0


def test_another_broker_goes_through_celery(redis_server: RedisServer) -> None:
    # TLS, Sentinel or options that change the keys: only Celery knows where the message goes.
    app.conf.broker_transport_options = {"global_keyprefix": "x:"}
    try:
        assert direct_client(app) is None
    finally:
        app.conf.broker_transport_options = {}
    assert direct_client(app) is not None
