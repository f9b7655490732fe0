"""The product as deployed, on loopback: PostgreSQL (a fresh database), a private redis-server,
gunicorn, Celery beat, Celery workers, and the receiver the steps call.

``Stack`` is a context manager: leaving it, normally or through an exception (Ctrl-C included),
ends every process it started and drops the database it created.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

import requests

from bench import procs

BIN = Path(sys.executable).parent  # the venv's: celery, gunicorn and the app's code all match
# Tables the scenarios fill; emptied between measurements so each starts from the same state.
RUN_TABLES = "triggers_delivery, workflows_run, workflows_stepresult, workflows_stepattempt"


@dataclass(frozen=True)
class WorkerConfig:
    pool: str = "threads"
    concurrency: int = 16
    prefetch: int = 1
    # A what-if, not the product's behaviour: see bench/worker.py.
    reuse_db_connections: bool = False

    @property
    def label(self) -> str:
        label = f"{self.pool} c={self.concurrency} prefetch={self.prefetch}"
        return label + " +reuse-db (what-if)" if self.reuse_db_connections else label


@dataclass(frozen=True)
class StackConfig:
    # Where the bench database is created and dropped (as the OS user, like the integration tests).
    admin_url: str = field(
        default_factory=lambda: os.environ.get(
            "BENCH_ADMIN_DATABASE_URL", "postgresql://127.0.0.1:5432/postgres"
        )
    )
    database: str = "orchestrator_bench"
    receiver_delay: float = 0.05
    web_workers: int = 2
    web_threads: int = 4

    def public(self) -> dict[str, object]:
        """For the results file: the admin URL without its password, if it has one."""
        parts = urlsplit(self.admin_url)
        host = parts.hostname or ""
        netloc = f"{parts.username}@{host}" if parts.username else host
        admin_url = parts._replace(netloc=f"{netloc}:{parts.port}" if parts.port else netloc).geturl()
        return {**asdict(self), "admin_url": admin_url}


@dataclass
class Worker:
    config: WorkerConfig
    process: subprocess.Popen[bytes]
    probe_dir: Path
    log: Path

    @property
    def pids(self) -> list[int]:
        return procs.descendants(self.process.pid)


@dataclass
class Stack:
    config: StackConfig
    directory: Path
    env: dict[str, str] = field(default_factory=dict)
    web_url: str = ""
    receiver_url: str = ""
    redis_port: int = 0
    _processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _database_created: bool = False
    worker: Worker | None = None
    _workers_started: int = 0

    # --- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._create_database()
        self._start_redis()
        web_port, receiver_port = free_port(), free_port()
        self.web_url = f"http://127.0.0.1:{web_port}"
        self.receiver_url = f"http://127.0.0.1:{receiver_port}"
        self.env = self._service_env()
        self._manage("migrate", "--noinput")
        self._start_receiver(receiver_port)
        self._start_web(web_port)
        self._start_beat()

    def close(self) -> None:
        """Idempotent, and never raises: it runs on the way out of failures too."""
        self.stop_worker()
        for name in reversed(list(self._processes)):
            procs.end(self._processes.pop(name))
        if self._database_created:
            with contextlib.suppress(Exception):
                self._admin_sql(f"DROP DATABASE IF EXISTS {self.config.database} WITH (FORCE)")
            self._database_created = False

    def _service_env(self) -> dict[str, str]:
        admin = urlsplit(self.config.admin_url)
        database_url = admin._replace(path=f"/{self.config.database}").geturl()
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "orchestrator.settings",
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
            "ORCHESTRATOR_VAR_DIR": str(self.directory / "var"),
            "SECRET_KEY": secrets.token_urlsafe(48),
            "PUBLIC_BASE_URL": self.web_url,
            "PYTHONUNBUFFERED": "1",
        }

    # --- services -------------------------------------------------------------------------------

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        process = procs.spawn(command, self.directory / f"{name}.log", self.env or None)
        self._processes[name] = process
        return process

    def _check_alive(self, name: str) -> None:
        process = self._processes[name]
        if process.poll() is not None:
            log = self.directory / f"{name}.log"
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{procs.log_tail(log)}")

    def _create_database(self) -> None:
        self._admin_sql(f"DROP DATABASE IF EXISTS {self.config.database} WITH (FORCE)")
        self._admin_sql(f"CREATE DATABASE {self.config.database}")
        self._database_created = True

    def _start_redis(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.redis_port = free_port()
        # No persistence: the broker's state is not what is measured, and fsyncs would only add noise.
        command = [binary, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", str(self.directory)]
        self._spawn("redis", command)

        def answers() -> bool:
            self._check_alive("redis")
            with contextlib.suppress(OSError):
                return self.redis("PING") == "PONG"
            return False

        procs.wait_until(answers, timeout=20, what="redis-server")

    def _start_receiver(self, port: int) -> None:
        command = [sys.executable, "-m", "bench.receiver", "--port", str(port)]
        self._spawn("receiver", [*command, "--delay", str(self.config.receiver_delay)])
        self._wait_http("receiver", f"{self.receiver_url}/_records")

    def _start_web(self, port: int) -> None:
        command = [str(BIN / "gunicorn"), "orchestrator.wsgi", "-b", f"127.0.0.1:{port}"]
        command += ["-w", str(self.config.web_workers), "-k", "gthread"]
        command += ["--threads", str(self.config.web_threads), "--log-level", "warning"]
        self._spawn("gunicorn", command)
        self._wait_http("gunicorn", f"{self.web_url}/api/")

    def _start_beat(self) -> None:
        schedule = self.directory / "celerybeat-schedule"
        self._spawn("beat", [str(BIN / "celery"), "-A", "orchestrator", "beat", "-s", str(schedule)])

    def _wait_http(self, name: str, url: str) -> None:
        def answers() -> bool:
            self._check_alive(name)
            with contextlib.suppress(requests.RequestException):
                requests.get(url, timeout=2)
                return True
            return False

        procs.wait_until(answers, timeout=60, what=f"{name} at {url}", interval=0.2)

    def start_worker(self, config: WorkerConfig) -> Worker:
        """One Celery worker process with the probe, configured as deployed except for ``config``:
        Celery's default log level (WARNING), mingle, gossip and heartbeats on, as the README's
        `celery -A orchestrator worker --pool threads`."""
        self.stop_worker()
        self._workers_started += 1
        probe_dir = self.directory / f"probe{self._workers_started}"
        probe_dir.mkdir()
        log = self.directory / f"worker{self._workers_started}.log"
        env = {
            **self.env,
            "BENCH_PROBE_DIR": str(probe_dir),
            "CELERY_WORKER_PREFETCH_MULTIPLIER": str(config.prefetch),
            "BENCH_REUSE_DB_CONNECTIONS": "1" if config.reuse_db_connections else "",
        }
        command = [sys.executable, "-m", "bench.worker", "-A", "orchestrator", "worker"]
        command += ["--pool", config.pool, "--concurrency", str(config.concurrency)]
        command += ["-n", f"bench{self._workers_started}@%h"]
        process = procs.spawn(command, log, env)
        self.worker = Worker(config, process, probe_dir, log)
        # Ready when it waits on the queue: Celery's Redis transport blocks in BRPOP to consume.
        procs.wait_until(self._worker_consuming, timeout=60, what=f"worker to consume (log: {log})")
        return self.worker

    def _worker_consuming(self) -> bool:
        assert self.worker is not None
        if self.worker.process.poll() is not None:
            raise RuntimeError(f"worker exited:\n{procs.log_tail(self.worker.log)}")
        return "cmd=brpop" in self.redis("CLIENT", "LIST")

    def stop_worker(self) -> None:
        if self.worker is not None:
            procs.end(self.worker.process, signal.SIGTERM, grace=10)
            self.worker = None

    def reset_data(self) -> None:
        """Empty the run tables and the broker, so the next measurement starts from nothing."""
        self.sql(f"TRUNCATE {RUN_TABLES} CASCADE")
        self.redis("FLUSHALL")
        requests.post(f"{self.receiver_url}/_reset", timeout=5).raise_for_status()

    def web_pids(self) -> list[int]:
        return procs.descendants(self._processes["gunicorn"].pid)

    def pid(self, name: str) -> int:
        return self._processes[name].pid

    # --- talking to the services ----------------------------------------------------------------

    def manage(self, *args: str) -> str:
        return self._manage(*args)

    def _manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=procs.REPO,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def sql(self, statement: str) -> list[list[str]]:
        """Run SQL in the bench database; rows of unaligned, comma-separated psql output."""
        return _psql(self.env["DATABASE_URL"], statement)

    def _admin_sql(self, statement: str) -> None:
        _psql(self.config.admin_url, statement)

    def redis(self, *words: str) -> str:
        """One command to the private redis-server in its inline form; the reply as text."""
        with socket.create_connection(("127.0.0.1", self.redis_port), timeout=5) as sock:
            sock.sendall(" ".join(words).encode() + b"\r\n")
            with sock.makefile("rb") as replies:
                reply = replies.readline().decode().rstrip("\r\n")
                if reply.startswith("$"):  # a bulk string: its length, then the text
                    length = int(reply[1:])
                    return replies.read(length).decode() if length >= 0 else ""
        if reply.startswith("-"):
            raise RuntimeError(f"redis: {reply[1:]}")
        return reply[1:]


def _psql(url: str, statement: str) -> list[list[str]]:
    done = subprocess.run(
        ["psql", "-X", "-q", "-A", "-t", "-F", ",", "-v", "ON_ERROR_STOP=1", url, "-c", statement],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"psql failed on {statement[:80]!r}: {done.stderr.strip()}")
    return [line.split(",") for line in done.stdout.splitlines() if line]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
