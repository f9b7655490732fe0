"""The product as deployed, on loopback: PostgreSQL (a fresh database), a private redis-server,
gunicorn with the production configuration (orchestrator/gunicorn_conf.py), Celery beat, Celery
workers, and the receiver the steps call.

``Stack`` is a context manager: leaving it, normally or through an exception (Ctrl-C included),
ends every process it started and drops the database it created.

Settings are the product's defaults, as production runs them, except what ``BENCH_ENV`` lists (and
the report repeats): where the database and the broker are, loopback opened to outgoing requests (the
receiver is on 127.0.0.1), a random SECRET_KEY, and ``BENCH_ENDPOINTS=1`` for the baseline view.
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
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import BinaryIO
from urllib.parse import urlsplit

import requests

from bench import procs
from bench.stack_config import SERVICES, Service, StackConfig, WorkerConfig

BIN = Path(sys.executable).parent  # the venv's: celery, gunicorn and the app's code all match
# Tables the scenarios fill; emptied between measurements so each starts from the same state.
RUN_TABLES = "triggers_delivery, workflows_run, workflows_stepresult, workflows_stepattempt"
# Where Celery's Redis transport keeps the messages workers have reserved and not acknowledged. The
# queues themselves are Redis lists, found by type; the exchange bindings (_kombu.binding.*, sets) stay.
RESERVED_KEYS = ("unacked", "unacked_index")


@dataclass
class Workers:
    """The Celery worker processes of one configuration, sharing one probe directory."""

    config: WorkerConfig
    processes: list[subprocess.Popen[bytes]]
    probe_dir: Path
    logs: list[Path]

    @property
    def pids(self) -> list[int]:
        return [pid for process in self.processes for pid in procs.descendants(process.pid)]

    def peak_rss_mb(self) -> float | None:
        """The largest peak RSS of any one worker process (a prefork pool's children included)."""
        values = [procs.peak_rss_mb(pid) for pid in self.pids]
        return max((value for value in values if value is not None), default=None)


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
    workers: Workers | None = None
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
        self.env = self._service_env(web_port)
        self._manage("migrate", "--noinput")
        self._start_receiver(receiver_port)
        self._start_web()
        for service in SERVICES:
            if not service.with_workers:
                self._start_service(service)

    def close(self) -> None:
        """Idempotent, and never raises: it runs on the way out of failures too."""
        self.stop_workers()
        for name in reversed(list(self._processes)):
            procs.end(self._processes.pop(name))
        if self._database_created:
            with contextlib.suppress(Exception):
                self._admin_sql(f"DROP DATABASE IF EXISTS {self.config.database} WITH (FORCE)")
            self._database_created = False

    def _service_env(self, web_port: int) -> dict[str, str]:
        admin = urlsplit(self.config.admin_url)
        database_url = admin._replace(path=f"/{self.config.database}").geturl()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "orchestrator.settings",
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
            "BENCH_ENDPOINTS": "1",
            "ORCHESTRATOR_VAR_DIR": str(self.directory / "var"),
            "SECRET_KEY": secrets.token_urlsafe(48),
            "PUBLIC_BASE_URL": self.web_url,
            "WEB_BIND": f"127.0.0.1:{web_port}",
            "PYTHONUNBUFFERED": "1",
        }
        if self.config.web_workers is not None:
            env["WEB_WORKERS"] = str(self.config.web_workers)
        if self.config.web_threads is not None:
            env["WEB_THREADS"] = str(self.config.web_threads)
        env.update(self.config.settings)
        return env

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
        self._drop_stale_databases()
        self._admin_sql(f"DROP DATABASE IF EXISTS {self.config.database} WITH (FORCE)")
        self._admin_sql(f"CREATE DATABASE {self.config.database}")
        self._database_created = True

    def _drop_stale_databases(self) -> None:
        """Databases of runs whose runner is gone (killed outright, with no chance to drop them)."""
        rows = _psql(
            self.config.admin_url, "SELECT datname FROM pg_database WHERE datname LIKE 'orchestrator_bench_%'"
        )
        for (name,) in rows:
            pid = name.rsplit("_", 1)[-1]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                with contextlib.suppress(RuntimeError):
                    self._admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

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

    def _start_web(self) -> None:
        """As the README documents for production: ``gunicorn -c python:orchestrator.gunicorn_conf
        orchestrator.wsgi``, its access log included (to the log file, as to stdout in production)."""
        self._spawn(
            "gunicorn",
            [str(BIN / "gunicorn"), "-c", "python:orchestrator.gunicorn_conf", "orchestrator.wsgi"],
        )
        self._wait_http("gunicorn", f"{self.web_url}/api/")

    def _start_service(self, service: Service) -> None:
        fill = {"python": sys.executable, "bin": str(BIN), "dir": str(self.directory)}
        self._spawn(service.name, [part.format(**fill) for part in service.argv])

    def _wait_http(self, name: str, url: str) -> None:
        def answers() -> bool:
            self._check_alive(name)
            with contextlib.suppress(requests.RequestException):
                requests.get(url, timeout=2)
                return True
            return False

        procs.wait_until(answers, timeout=60, what=f"{name} at {url}", interval=0.2)

    def start_workers(self, config: WorkerConfig) -> Workers:
        """``config.processes`` Celery worker processes with the probe, configured as deployed except
        for ``config``: Celery's default log level (WARNING), mingle, gossip and heartbeats on, as the
        README's `celery -A orchestrator worker --pool threads --concurrency 32`, one per core; and the
        services that run with the workers."""
        self.stop_workers()
        self._workers_started += 1
        number = self._workers_started
        probe_dir = self.directory / f"probe{number}"
        probe_dir.mkdir()
        env = {
            **self.env,
            "BENCH_PROBE_DIR": str(probe_dir),
            "CELERY_WORKER_PREFETCH_MULTIPLIER": str(config.prefetch),
            "BENCH_REUSE_DB_CONNECTIONS": "1" if config.reuse_db_connections else "",
        }
        processes, logs = [], []
        for index in range(config.processes):
            log = self.directory / f"worker{number}-{index}.log"
            command = [sys.executable, "-m", "bench.worker", "-A", "orchestrator", "worker"]
            command += ["--pool", config.pool, "--concurrency", str(config.concurrency)]
            command += ["-n", f"bench{number}-{index}@%h"]
            processes.append(procs.spawn(command, log, env))
            logs.append(log)
        self.workers = Workers(config, processes, probe_dir, logs)
        for service in SERVICES:
            if service.with_workers:
                self._start_service(service)
        # Ready when each waits on the queue: Celery's Redis transport blocks in BRPOP to consume.
        procs.wait_until(self._workers_consuming, timeout=60, what=f"workers to consume (logs: {logs})")
        return self.workers

    def _workers_consuming(self) -> bool:
        assert self.workers is not None
        for process, log in zip(self.workers.processes, self.workers.logs, strict=True):
            if process.poll() is not None:
                raise RuntimeError(f"worker exited:\n{procs.log_tail(log)}")
        return self.redis("CLIENT", "LIST").count("cmd=brpop") >= len(self.workers.processes)

    def stop_workers(self) -> None:
        if self.workers is not None:
            for process in self.workers.processes:
                procs.end(process, signal.SIGTERM, grace=10)
            self.workers = None
        for service in SERVICES:
            if service.with_workers and service.name in self._processes:
                procs.end(self._processes.pop(service.name))

    def reset_data(self) -> None:
        """Empty the run tables and the broker's queue, so the next measurement starts from nothing."""
        self.sql(f"TRUNCATE {RUN_TABLES} CASCADE")
        self.empty_queue()
        requests.post(f"{self.receiver_url}/_reset", timeout=5).raise_for_status()

    def web_pids(self) -> list[int]:
        return procs.descendants(self._processes["gunicorn"].pid)

    def web_worker_pids(self) -> list[int]:
        """gunicorn's worker processes (not its master)."""
        return self.web_pids()[1:]

    def web_peak_rss_mb(self) -> float | None:
        values = [procs.peak_rss_mb(pid) for pid in self.web_worker_pids()]
        return max((value for value in values if value is not None), default=None)

    def pid(self, name: str) -> int:
        return self._processes[name].pid

    def service_roles(self) -> dict[str, list[int]]:
        """The pids of each SERVICES process now running, by name (for CPU per role)."""
        return {s.name: [self.pid(s.name)] for s in SERVICES if s.name in self._processes}

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

    def sql(self, statement: str, *, timeout: float = 120) -> list[list[str]]:
        """Run SQL in the bench database; rows of unaligned, comma-separated psql output."""
        return _psql(self.env["DATABASE_URL"], statement, timeout=timeout)

    def _admin_sql(self, statement: str) -> None:
        _psql(self.config.admin_url, statement)

    def redis(self, *words: str) -> str:
        """One command to the private redis-server; the reply as text (an array's items joined by
        newlines, an integer as its digits, nil as "")."""
        reply = self.redis_reply(*words)
        if isinstance(reply, list):
            return "\n".join(str(item) for item in reply)
        return "" if reply is None else str(reply)

    def redis_reply(self, *words: str) -> str | int | list[object] | None:
        """One command in RESP, the reply parsed: text, integer, list, or None (nil)."""
        command = b"*%d\r\n" % len(words) + b"".join(
            b"$%d\r\n%s\r\n" % (len(word.encode()), word.encode()) for word in words
        )
        with socket.create_connection(("127.0.0.1", self.redis_port), timeout=10) as sock:
            sock.sendall(command)
            with sock.makefile("rb") as replies:
                return _resp(replies)

    # --- the broker's queues (Celery's Redis transport keeps each queue as a Redis list) --------------

    def queue_keys(self) -> list[str]:
        """Every queue, whatever the product names them (``celery``, ``runs.0`` ... ``runs.7``)."""
        keys = self.redis_reply("SCAN", "0", "COUNT", "10000", "TYPE", "list")
        assert isinstance(keys, list) and isinstance(keys[1], list)
        return sorted(str(key) for key in keys[1])

    def queued(self) -> int:
        """Messages waiting in the queues (not those a worker has reserved: see ``reserved``)."""
        return sum(int(self.redis("LLEN", key) or 0) for key in self.queue_keys())

    def reserved(self) -> int:
        """Messages delivered to a worker and not yet acknowledged."""
        return int(self.redis("HLEN", "unacked") or 0)

    def empty_queue(self, *, reserved_too: bool = True) -> None:
        """Delete what waits in the queues (and what workers reserved); the bindings stay."""
        keys = self.queue_keys() + (list(RESERVED_KEYS) if reserved_too else [])
        if keys:
            self.redis("DEL", *keys)


def _resp(replies: BinaryIO) -> str | int | list[object] | None:
    line = replies.readline().decode().rstrip("\r\n")
    kind, rest = line[:1], line[1:]
    if kind == "+":
        return rest
    if kind == "-":
        raise RuntimeError(f"redis: {rest}")
    if kind == ":":
        return int(rest)
    if kind == "$":
        if int(rest) < 0:
            return None
        data = replies.read(int(rest) + 2)
        return data[:-2].decode(errors="replace")
    if kind == "*":
        return None if int(rest) < 0 else [_resp(replies) for _ in range(int(rest))]
    raise RuntimeError(f"redis: unexpected reply {line!r}")


def _psql(url: str, statement: str, *, timeout: float = 120) -> list[list[str]]:
    done = subprocess.run(
        ["psql", "-X", "-q", "-A", "-t", "-F", ",", "-v", "ON_ERROR_STOP=1", url, "-c", statement],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"psql failed on {statement[:80]!r}: {done.stderr.strip()}")
    return [line.split(",") for line in done.stdout.splitlines() if line]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
