"""The product as deployed, on loopback, with every piece a real process this suite owns: a private
PostgreSQL cluster (so it can be restarted without touching anyone else's), a private redis-server,
gunicorn with the production configuration, Celery workers and beat, and the receiver the steps call.

Every child runs in a session (process group) of its own, so a test can SIGKILL it with all its
children, and under ``setpriv --pdeathsig KILL``, so that even a test process killed with SIGKILL
leaves nothing behind. The parent-death signal fires when the *thread* that started the child ends:
children are therefore only ever started from the test's main thread (the senders are the threads).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from tests.faults.datastores import Postgres, Redis
from tests.faults.processes import (
    BIN,
    ENGINE_SETTINGS,
    OPENER,
    REPO,
    ServiceError,
    children,
    end,
    kill_group,
    spawn,
    wait_until,
)  # fmt: skip
from tests.integration.processes import free_loopback_port as free_port
from tests.integration.processes import log_tail

# --- the services -----------------------------------------------------------------------------------


@dataclass
class Worker:
    name: str
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0


@dataclass
class Stack:
    """Everything, started in order by ``start`` and ended by ``close`` (idempotent, never raises)."""

    root: Path
    web_workers: int = 2
    web_threads: int = 4
    worker_count: int = 2
    worker_concurrency: int = 8
    webhooks_per_scenario: int = 2000
    env: dict[str, str] = field(default_factory=dict)
    postgres: Postgres | None = None
    redis: Redis | None = None
    web_port: int = 0
    receiver_port: int = 0
    token: str = ""
    workers: list[Worker] = field(default_factory=list)
    _web: subprocess.Popen[bytes] | None = None
    _beat: subprocess.Popen[bytes] | None = None
    _receiver: subprocess.Popen[bytes] | None = None

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def receiver_url(self) -> str:
        return f"http://127.0.0.1:{self.receiver_port}"

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        (self.root / "run").mkdir(mode=0o700)
        (self.root / "pg").mkdir()
        # The cluster's directory belongs to the postgres user, who must be able to reach it.
        self.root.chmod(0o711)
        self.postgres = Postgres(self.root / "pg", self.logs)
        self.postgres.init()
        self.postgres.start()
        self.postgres.create_database()
        self.redis = Redis(self.logs)
        self.redis.start()
        self.web_port, self.receiver_port = free_port(), free_port()
        self.env = self._service_env()
        self.manage("migrate", "--noinput")
        self.token = self._create_token()
        self.start_receiver()
        self.start_web()
        self.start_beat()
        self.workers = [
            Worker(f"worker{i + 1}", self.logs / f"worker{i + 1}.log") for i in range(self.worker_count)
        ]
        for worker in self.workers:
            self.start_worker(worker)

    def close(self) -> None:
        for worker in self.workers:
            if worker.process is not None:
                end(worker.process, signal.SIGKILL)
                worker.process = None
        for name in ("_beat", "_web", "_receiver"):
            process = getattr(self, name)
            if process is not None:
                end(process, signal.SIGTERM, grace=5)
                setattr(self, name, None)
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            with contextlib.suppress(Exception):
                self.postgres.stop("fast")
            if self.postgres.process is not None:
                kill_group(self.postgres.process)

    def ensure_running(self) -> None:
        """Repair what an earlier test that failed half-way may have left stopped."""
        assert self.postgres is not None and self.redis is not None
        self.postgres.start()
        self.redis.start()
        if self._receiver is None or self._receiver.poll() is not None:
            self.start_receiver()
        if self._web is None or self._web.poll() is not None:
            self.start_web()
        if self._beat is None or self._beat.poll() is not None:
            self.start_beat()
        for worker in self.workers:
            if worker.process is None or worker.process.poll() is not None:
                self.start_worker(worker)

    def _service_env(self) -> dict[str, str]:
        assert self.postgres is not None and self.redis is not None
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
        return {
            **inherited,
            **ENGINE_SETTINGS,
            # The product's own settings, as deployed; tests.settings is for the test process only.
            "DJANGO_SETTINGS_MODULE": "orchestrator.settings",
            "DATABASE_URL": self.postgres.url(),
            "CELERY_BROKER_URL": self.redis.url,
            "SECRET_KEY": secrets.token_urlsafe(48),
            "DEBUG": "false",
            "PUBLIC_BASE_URL": self.web_url,
            # The receiver is on loopback, which the SSRF guard refuses unless allowed.
            "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
            "ORCHESTRATOR_VAR_DIR": str(self.root / "var"),
            "LOG_LEVEL": "WARNING",
            "WEB_BIND": f"127.0.0.1:{self.web_port}",
            "WEB_WORKERS": str(self.web_workers),
            "WEB_THREADS": str(self.web_threads),
            "WEB_ACCESS_LOG": str(self.logs / "access.log"),
            # The per-trigger rate limit stays on (it counts in the broker's Redis, so the Redis outage
            # exercises its fail-open path) but above anything one scenario sends, which must all pass.
            "WEBHOOK_RATE_LIMIT_PER_MINUTE": str(max(6000, 2 * self.webhooks_per_scenario)),
            "PYTHONUNBUFFERED": "1",
            # gunicorn (27+) puts a control socket in $XDG_RUNTIME_DIR, else in ~/.gunicorn/, shared
            # by every gunicorn of the user on the machine: ours goes into our own directory.
            "XDG_RUNTIME_DIR": str(self.root / "run"),
        }

    # --- processes ------------------------------------------------------------------------------

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        if done.returncode != 0:
            raise ServiceError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def _create_token(self) -> str:
        self.manage("createsuperuser", "--noinput", "--username", "faults", "--email", "faults@example.com")
        printed = self.manage("drf_create_token", "faults")
        match = re.search(r"Generated token (\S+) for user", printed)
        if match is None:
            raise ServiceError(f"no token in drf_create_token's output: {printed!r}")
        return match.group(1)

    def start_receiver(self) -> None:
        command = [sys.executable, "-m", "tests.faults.receiver", "--port", str(self.receiver_port)]
        command += ["--delay", os.environ.get("FAULTS_RECEIVER_DELAY", "0.05")]
        self._receiver = process = spawn(command, self.logs / "receiver.log", self.env)
        self._wait_http("receiver", process, f"{self.receiver_url}/_records/none")

    def start_web(self) -> None:
        """gunicorn as the README documents for production."""
        command = [str(BIN / "gunicorn"), "-c", "python:orchestrator.gunicorn_conf", "orchestrator.wsgi"]
        self._web = process = spawn(command, self.logs / "gunicorn.log", self.env)
        self._wait_http("gunicorn", process, f"{self.web_url}/api/")

    @property
    def web(self) -> subprocess.Popen[bytes]:
        assert self._web is not None
        return self._web

    def web_worker_pids(self) -> list[int]:
        return children(self.web.pid) if self._web is not None and self._web.poll() is None else []

    def kill_web(self) -> None:
        """SIGKILL gunicorn's master and workers at once, as an OOM killer or a lost machine would."""
        if self._web is not None:
            kill_group(self._web)
            self._web = None

    def start_beat(self) -> None:
        command = [str(BIN / "celery"), "-A", "orchestrator", "beat", "-l", "info"]
        command += ["-s", str(self.root / "var" / "celerybeat-schedule")]
        self._beat = self._start_celery("beat", command, self.logs / "beat.log", "beat: Starting")

    def start_worker(self, worker: Worker) -> None:
        """A worker as the README deploys it (threads pool), without mingle and gossip, which only
        slow a restart down; -l info for its " ready." line."""
        worker.starts += 1
        command = [str(BIN / "celery"), "-A", "orchestrator", "worker", "--pool", "threads"]
        command += ["--concurrency", str(self.worker_concurrency), "-l", "info"]
        command += ["-n", f"{worker.name}-{worker.starts}@%h", "--without-mingle", "--without-gossip"]
        worker.process = self._start_celery(worker.name, command, worker.log, " ready.")

    def kill_worker(self, worker: Worker) -> None:
        """SIGKILL the worker's whole process group: no chance to finish, ack or hand anything back."""
        if worker.process is not None:
            kill_group(worker.process)
            worker.process = None

    def _start_celery(self, name: str, command: list[str], log: Path, marker: str) -> subprocess.Popen[bytes]:
        # A restarted process appends to its predecessor's log: look for the marker after that.
        offset = log.stat().st_size if log.exists() else 0
        process = spawn(command, log, self.env)

        def ready() -> bool:
            if process.poll() is not None:
                raise ServiceError(f"{name} exited with {process.returncode}:\n{log_tail(log)}")
            with log.open("rb") as text:
                text.seek(offset)
                return marker.encode() in text.read()

        wait_until(ready, timeout=90, what=f"{name} to start (log: {log})", interval=0.1)
        return process

    def _wait_http(self, name: str, process: subprocess.Popen[bytes], url: str) -> None:
        def answers() -> bool:
            if process.poll() is not None:
                raise ServiceError(
                    f"{name} exited with {process.returncode}:\n{log_tail(self.logs / (name + '.log'))}"
                )
            try:
                with OPENER.open(url, timeout=2):
                    return True
            except urllib.error.HTTPError:
                return True  # it answered
            except OSError:
                return False

        wait_until(answers, timeout=90, what=f"{name} at {url}", interval=0.1)

    # --- reading the services -------------------------------------------------------------------

    def postgres_connection(self) -> psycopg.Connection[Any]:
        assert self.postgres is not None
        return self.postgres.connect()

    def receiver_records(self, scenario: str) -> list[tuple[int, int, str]]:
        url = f"{self.receiver_url}/_records/{scenario}"
        with OPENER.open(url, timeout=30) as response:
            data = json.loads(response.read())
        return [(int(run), int(n), str(key)) for run, n, key in data["records"]]

    def log_files(self) -> list[Path]:
        return sorted(self.logs.glob("*.log")) if self.logs.exists() else []


def make_root() -> Path:
    """A temporary directory for the whole stack (cluster, logs, var), outside pytest's own temporary
    tree, which is private to the user running pytest and which the postgres user could not reach."""
    return Path(tempfile.mkdtemp(prefix="orchestrator-faults-"))
