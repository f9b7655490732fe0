"""The fault suite's own PostgreSQL cluster and redis-server, which its tests stop and start."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import psycopg

from tests.faults.processes import (
    DATABASE,
    PG_USER,
    ServiceError,
    kill_group,
    postgres_bindir,
    spawn,
    wait_until,
)  # fmt: skip
from tests.integration.processes import free_loopback_port as free_port
from tests.integration.processes import log_tail


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
