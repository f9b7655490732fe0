"""Run queues: fairness between workflows.

With one FIFO queue, a backlog of 5,000 runs of one workflow makes every other workflow's next run
wait behind all of them. So each workflow's runs go to one of ``RUN_QUEUE_SHARDS`` queues
(``runs.0`` … ``runs.<K-1>``), chosen by workflow id, and every worker consumes all of them.

Kombu's Redis transport takes turns between the queues a worker consumes: it waits on one ``BRPOP``
over all of them, and the queue a message was just taken from moves to the end of that list
(``Channel._brpop_start``/``_brpop_read`` with ``round_robin_cycle`` in kombu 5.7), so Redis serves the
first non-empty queue that has not had a turn. A new run therefore waits for the messages a worker
has already reserved (concurrency times prefetch) and at most one message of each other busy queue, not
for the backlog of its neighbours (tests/integration/test_fairness.py).
The filesystem transport of `make run` takes turns too (kombu's ``FairCycle``), but it lists and sorts
its whole folder for every queue it polls: with 2,000 messages waiting in one shard, 8 shards drain
at 14.7 ms a message against 1.7 ms with a single queue (200 waiting: 1.3 against 0.4 ms). Two
workflows whose ids fall into the same shard still share a queue: a flood delays the workflows of its
own shard, 1 in ``RUN_QUEUE_SHARDS``, and nobody else.

The periodic tasks (sweeper, retention) stay on Celery's default queue, which workers consume as well,
and now get a turn even while a flood is queued.
"""

from __future__ import annotations

from django.conf import settings
from kombu import Exchange, Queue

RUN_QUEUE_PREFIX = "runs."
# Celery's default queue: the sweeper and the retention purge are sent there.
DEFAULT_QUEUE = "celery"


def run_queue_for(workflow_id: int) -> str:
    """The queue of this workflow's runs. Ids are sequential, so consecutive workflows land in
    different shards; the modulo is the same in every process (unlike ``hash()`` of a string)."""
    return f"{RUN_QUEUE_PREFIX}{workflow_id % settings.RUN_QUEUE_SHARDS}"


def run_queue_names() -> list[str]:
    return [f"{RUN_QUEUE_PREFIX}{shard}" for shard in range(settings.RUN_QUEUE_SHARDS)]


def celery_task_queues() -> list[Queue]:
    """Every queue a worker started without ``-Q`` consumes: the default queue and all run shards.

    Web processes and workers must agree on ``RUN_QUEUE_SHARDS``. After a change, a message left in a
    queue that is no longer consumed is harmless: its run is still queued in the database, and the
    sweeper re-sends it to the run's current queue after ``RUN_REDISPATCH_AFTER_SECONDS``.
    """
    return [_queue(DEFAULT_QUEUE), *(_queue(name) for name in run_queue_names())]


def _queue(name: str) -> Queue:
    # Its own direct exchange and routing key, the way Celery declares a queue it was not told about.
    # A bare Queue(name) would get Celery's default exchange and routing key "celery", and a message for
    # one queue would be routed to every queue bound that way.
    return Queue(name, Exchange(name, type="direct"), routing_key=name)
