"""``python -m bench.worker <celery arguments>``: the ``celery`` command with bench/probe.py installed.

The app's code is untouched; the probe only hooks Django's and Celery's signals in this process.

With ``BENCH_REUSE_DB_CONNECTIONS=1`` it also runs a what-if that the product does not do (yet):
Celery's Django fixup closes every database connection before and after every task unless
``CELERY_DB_REUSE_MAX`` is set, so ``DATABASE_CONN_MAX_AGE`` has no effect in a worker and each task
opens a new PostgreSQL connection. The what-if sets ``CELERY_DB_REUSE_MAX`` so high that the fixup
never closes, and closes old or broken connections the way Django's request cycle does instead
(``close_old_connections``: honours CONN_MAX_AGE and CONN_HEALTH_CHECKS).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from bench import probe


def _reuse_db_connections() -> None:
    from celery.signals import task_postrun, task_prerun
    from django.conf import settings
    from django.db import close_old_connections

    # Read by the fixup when the worker starts, through the Celery app's Django-backed configuration.
    settings.CELERY_DB_REUSE_MAX = 10**9

    def close_old(**_: Any) -> None:
        close_old_connections()

    task_prerun.connect(close_old, weak=False)
    task_postrun.connect(close_old, weak=False)


def main() -> None:
    probe.install()
    if os.environ.get("BENCH_REUSE_DB_CONNECTIONS") == "1":
        _reuse_db_connections()
    from celery.bin.celery import main as celery_main

    sys.argv = ["celery", *sys.argv[1:]]
    celery_main()


if __name__ == "__main__":
    main()
