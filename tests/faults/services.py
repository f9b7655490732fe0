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
import pwd
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv's gunicorn and celery: the same code as the tests
PG_USER = "postgres"  # the system user that owns the private cluster when the suite runs as root
DATABASE = "orchestrator"
T = TypeVar("T")
# Loopback only: never through a proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# The sweeper, leases and re-sends on a test's time scale. The re-send delay stays well above the
# time a healthy run waits in the queue, so the sweeper re-sends what was lost, not the whole backlog.
ENGINE_SETTINGS = {
    "RUN_SWEEP_INTERVAL_SECONDS": "1",
    "RUN_REDISPATCH_AFTER_SECONDS": "8",
    "RUN_LEASE_GRACE_SECONDS": "2",
}
STEP_TIMEOUT_SECONDS = 5  # a dead worker's run is taken over after this plus the lease grace


class ServiceError(RuntimeError):
    pass


def wait_until(check: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll until ``check`` returns something truthy. Generous timeouts only: "eventually"."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise ServiceError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def log_tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return "(no log file)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    """A free loopback port below the ephemeral range: services are restarted on the same port
    mid-test, and a port from the ephemeral range could meanwhile become some client's local end."""
    low = 32768
    with contextlib.suppress(OSError, ValueError, IndexError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    candidates = random.sample(range(20000, low), 50) if low > 20050 else []
    for port in [*candidates, 0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            found: int = sock.getsockname()[1]
            return found
    raise ServiceError("no free loopback port")


# --- what is installed ------------------------------------------------------------------------------


def postgres_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin with initdb and postgres, else pg_config's."""

    def version(path: Path) -> float:
        with contextlib.suppress(ValueError):
            return float(path.parent.name)
        return 0.0

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            bindir = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
            candidates.append(Path(bindir))
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "postgres").is_file():
            return candidate
    return None


def missing_services() -> list[str]:
    missing = []
    if postgres_bindir() is None:
        missing.append("PostgreSQL server binaries (initdb, postgres) are not installed")
    if shutil.which("redis-server") is None:
        missing.append("redis-server is not installed")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            missing.append(f"running as root, and there is no {PG_USER!r} user to run PostgreSQL as")
        if shutil.which("setpriv") is None and shutil.which("runuser") is None:
            missing.append("running as root, and neither setpriv nor runuser is installed")
    return missing


# --- child processes --------------------------------------------------------------------------------


def _command(command: list[str], *, as_user: str | None = None) -> list[str]:
    setpriv = shutil.which("setpriv")
    if as_user is not None and os.geteuid() == 0:
        user = pwd.getpwnam(as_user)
        if setpriv:
            ids = ["--reuid", str(user.pw_uid), "--regid", str(user.pw_gid), "--clear-groups"]
            return [setpriv, *ids, "--pdeathsig", "KILL", "--", *command]
        return ["runuser", "-u", as_user, "--", *command]
    if setpriv:
        return [setpriv, "--pdeathsig", "KILL", "--", *command]
    return command


def spawn(
    command: list[str], log: Path, env: dict[str, str] | None = None, *, as_user: str | None = None
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            _command(command, as_user=as_user),
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill_group(process: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGKILL) -> None:
    """Signal the process's whole group (gunicorn's master with its workers) and reap the process.
    Only while the process is not reaped yet: until then its pid, the group's id, cannot have been
    given to anyone else's process."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=15)


def end(process: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM, grace: float = 10) -> None:
    """``sig`` to the group, then SIGKILL to whatever is left of it after ``grace``."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    kill_group(process, signal.SIGKILL)


def children(pid: int) -> list[int]:
    """Direct children of ``pid``, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


# --- the services -----------------------------------------------------------------------------------


class Postgres:
    """A private cluster: initdb into a temporary directory, a free port on 127.0.0.1, the unix socket
    in that directory. Run as the ``postgres`` user when the suite runs as root (initdb refuses root)."""

    def __init__(self, directory: Path, logs: Path) -> None:
        bindir = postgres_bindir()
        if bindir is None:
            raise ServiceError("PostgreSQL binaries not found")
        self.bindir = bindir
        self.directory = directory
        self.data = directory / "data"
        self.log = logs / "postgres.log"
        self.port = free_port()
        self.user = PG_USER if os.geteuid() == 0 else None
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        if self.user is not None:
            user = pwd.getpwnam(self.user)
            os.chown(self.directory, user.pw_uid, user.pw_gid)
        self.directory.chmod(0o700)
        command = [str(self.bindir / "initdb"), "-D", str(self.data), "-U", PG_USER, "--auth=trust"]
        command += ["--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"]
        initdb = spawn(command, self.log, as_user=self.user)
        if initdb.wait(timeout=180) != 0:
            raise ServiceError(f"initdb failed:\n{log_tail(self.log)}")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        command = [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port)]
        command += ["-k", str(self.directory), "-c", "listen_addresses=127.0.0.1"]
        command += ["-c", "max_connections=200", "-c", "log_min_messages=warning"]
        self.process = process = spawn(command, self.log, as_user=self.user)
        self.starts += 1

        def ready() -> bool:
            if process.poll() is not None:
                raise ServiceError(f"postgres exited with {process.returncode}:\n{log_tail(self.log)}")
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
            except psycopg.Error:
                return False
            return True

        wait_until(ready, timeout=60, what=f"PostgreSQL on port {self.port}", interval=0.2)

    def stop(self, mode: str = "fast") -> None:
        """Shut down as ``pg_ctl stop -m <mode>`` would: fast (SIGINT: roll back open transactions,
        disconnect everyone, checkpoint) or immediate (SIGQUIT: like a crash, recovery on start)."""
        if self.process is None:
            return
        sig = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}[mode]
        if self.process.poll() is None:
            # The postmaster only: it shuts its backends down itself (each is a group of its own).
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.send_signal(signal.SIGQUIT)
                self.process.wait(timeout=30)
        self.process = None

    def create_database(self) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {DATABASE}")  # a constant name, not input

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url(), autocommit=True, connect_timeout=5)


class Redis:
    """A private redis-server without persistence: a stop loses every queued message, which is the
    harshest thing a broker can do to the product."""

    def __init__(self, logs: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceError("redis-server is not installed")
        self.binary = binary
        self.directory = logs
        self.log = logs / "redis.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", str(self.directory)]
        self.process = process = spawn(command, self.log)

        def answers() -> bool:
            if process.poll() is not None:
                raise ServiceError(f"redis-server exited:\n{log_tail(self.log)}")
            return self.ping()

        wait_until(answers, timeout=30, what=f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            kill_group(self.process)
            self.process = None

    def ping(self) -> bool:
        try:
            return self.command("PING") == "PONG"
        except (OSError, ServiceError):
            return False

    def command(self, *words: str) -> str | list[str]:
        """One command in Redis's inline form; the reply as text, or a list of texts for an array."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(" ".join(words).encode() + b"\r\n")
            with sock.makefile("rb") as replies:
                return _reply(replies)

    def queued_messages(self) -> int:
        """Messages waiting in every queue (kombu keeps each queue as a list named after it)."""
        keys = self.command("KEYS", "*")
        total = 0
        for key in keys if isinstance(keys, list) else []:
            if self.command("TYPE", key) == "list":
                total += int(str(self.command("LLEN", key)) or 0)
        return total


def _reply(replies: Any) -> str | list[str]:
    line = replies.readline().decode().rstrip("\r\n")
    kind, rest = line[:1], line[1:]
    if kind == "-":
        raise ServiceError(f"redis: {rest}")
    if kind == "$":  # a bulk string: its length, then the text
        length = int(rest)
        if length < 0:
            return ""
        text: str = replies.read(length + 2)[:length].decode()
        return text
    if kind == "*":  # an array of bulk strings
        return [str(_reply(replies)) for _ in range(max(0, int(rest)))]
    return rest


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
                with _OPENER.open(url, timeout=2):
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
        with _OPENER.open(url, timeout=30) as response:
            data = json.loads(response.read())
        return [(int(run), int(n), str(key)) for run, n, key in data["records"]]

    def log_files(self) -> list[Path]:
        return sorted(self.logs.glob("*.log")) if self.logs.exists() else []


def make_root() -> Path:
    """A temporary directory for the whole stack (cluster, logs, var), outside pytest's own temporary
    tree, which is private to the user running pytest and which the postgres user could not reach."""
    return Path(tempfile.mkdtemp(prefix="orchestrator-faults-"))
