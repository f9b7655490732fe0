"""What a bench stack is made of: the settings it changes from production (``BENCH_ENV``, which the
report repeats), the product's extra processes (``SERVICES``), and the stack's and the workers'
configurations (bench/stack.py starts them)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

# What the bench sets in the services' environment, and why: the only differences from production.
BENCH_ENV = {
    "DATABASE_URL": "the bench's own PostgreSQL database, created and dropped by the harness",
    "CELERY_BROKER_URL": "a private redis-server on a free loopback port, without persistence",
    "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8: the steps' receiver is on loopback (empty in production)",
    "BENCH_ENDPOINTS": "1: routes bench/noop/, the baseline view (off in production)",
    "SECRET_KEY": "random per run",
    "PUBLIC_BASE_URL": "the bench's gunicorn address",
    "ORCHESTRATOR_VAR_DIR": "the run's scratch directory",
    "WEB_BIND": "127.0.0.1 and a free port",
}


@dataclass(frozen=True)
class Service:
    """A long-running process of the product besides gunicorn and the Celery workers, started as
    deployed. In ``argv``, ``{python}``, ``{bin}`` (the venv's bin/) and ``{dir}`` (the run's scratch
    directory) are filled in; the command runs in the repository with the services' environment.
    ``with_workers``: started and stopped with the Celery workers (so it is off while the receive
    path is measured alone) rather than running all along."""

    name: str
    argv: tuple[str, ...]
    with_workers: bool = False


# Add a process of the product here (one line), e.g.
#   Service("outbox", ("{python}", "manage.py", "outbox_relay")),
SERVICES: tuple[Service, ...] = (
    Service("beat", ("{bin}/celery", "-A", "orchestrator", "beat", "-s", "{dir}/celerybeat-schedule")),
)


@dataclass(frozen=True)
class WorkerConfig:
    pool: str = "threads"
    # The README's production worker: one process per core (two here), --pool threads --concurrency 32.
    concurrency: int = 32
    prefetch: int = 1
    processes: int = 2  # Celery worker processes started on this machine
    # A what-if, not the product's behaviour: see bench/worker.py.
    reuse_db_connections: bool = False

    @property
    def label(self) -> str:
        label = f"{self.pool} c={self.concurrency} prefetch={self.prefetch}"
        if self.processes != 1:
            label = f"{self.processes} x {label}"
        return label + " +reuse-db (what-if)" if self.reuse_db_connections else label


def _database_name() -> str:
    # Per runner process: two runs at once (two people, or CI beside a developer) never share one.
    return f"orchestrator_bench_{os.getpid()}"


@dataclass(frozen=True)
class StackConfig:
    # Where the bench database is created and dropped (as the OS user, like the integration tests).
    admin_url: str = field(
        default_factory=lambda: os.environ.get(
            "BENCH_ADMIN_DATABASE_URL", "postgresql://127.0.0.1:5432/postgres"
        )
    )
    database: str = field(default_factory=_database_name)
    receiver_delay: float = 0.05
    # None: orchestrator/gunicorn_conf.py's own values (WEB_WORKERS, WEB_THREADS), as in production.
    web_workers: int | None = None
    web_threads: int | None = None
    # Product settings this stack changes from production, as (variable, value): reported with it.
    settings: tuple[tuple[str, str], ...] = ()

    def public(self) -> dict[str, object]:
        """For the results file: the admin URL without its password, if it has one."""
        parts = urlsplit(self.admin_url)
        host = parts.hostname or ""
        netloc = f"{parts.username}@{host}" if parts.username else host
        admin_url = parts._replace(netloc=f"{netloc}:{parts.port}" if parts.port else netloc).geturl()
        return {**asdict(self), "admin_url": admin_url}
