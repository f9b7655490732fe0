"""Real services for the integration tier: a private redis-server and Celery worker and beat processes.

Every process gets its own session (process group), so a test can SIGKILL a worker with all its
children the way an OOM killer or a lost machine would, and teardown leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[2]
# The celery script next to the interpreter running pytest: the same venv, the same code.
CELERY = str(Path(sys.executable).parent / "celery")

T = TypeVar("T")

# Short, so that a lost message or a dead worker's run is recovered within seconds; the re-send delay
# still gives a healthy run time to be picked up first (a re-send would be harmless: claims exclude).
WORKER_SETTINGS = {
    "RUN_SWEEP_INTERVAL_SECONDS": "0.5",
    "RUN_REDISPATCH_AFTER_SECONDS": "2",
    "RUN_LEASE_GRACE_SECONDS": "1",
    # The receiver the steps call is on loopback, which the SSRF guard refuses unless allowed.
    "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128",
}


def wait_until(check: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll until ``check`` returns something truthy, and return it. Generous timeouts only: this
    says "it happens eventually", never "it happens fast"."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def free_loopback_port() -> int:
    """A free port below the ephemeral range. Redis is restarted on the same port mid-test; a port
    from the ephemeral range could meanwhile become the local end of some client connection (to
    PostgreSQL, say), and the restart would fail with "address in use"."""
    low = 32768
    with contextlib.suppress(OSError, ValueError):
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
    raise RuntimeError("no free loopback port")


def log_tail(path: Path, lines: int = 150) -> str:
    if not path.exists():
        return "(no log file)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _spawn(command: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _end(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)  # the whole group: a worker's children die with it
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


class RedisServer:
    """A redis-server of our own on a fixed loopback port, so tests can stop and start the broker
    without touching anyone else's Redis. No persistence: a restart loses every queued message,
    which is the harshest broker failure the product has to survive."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_loopback_port()
        self.log = directory / "redis.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        self._process = process = _spawn(command, self.log)

        def answers() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"redis-server exited:\n{log_tail(self.log)}")
            return self.ping()

        wait_until(answers, timeout=20, what=f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self._process is not None:
            _end(self._process, signal.SIGKILL)
            self._process = None

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


class CeleryCluster:
    """Celery worker processes and one beat process: real processes with the product's settings,
    pointed at the test database and the private Redis, with short sweeper and lease intervals."""

    def __init__(self, env: dict[str, str], directory: Path) -> None:
        self.env = env
        self.directory = directory
        self.workers: list[subprocess.Popen[bytes]] = []
        self.beat: subprocess.Popen[bytes] | None = None
        self._started = 0

    def start_worker(self) -> subprocess.Popen[bytes]:
        self._started += 1
        name = f"worker{self._started}"
        command = [CELERY, "-A", "orchestrator", "worker", "--pool", "threads", "-c", "4", "-l", "info"]
        # No mingle/gossip/event heartbeats: they only slow start-up and add broker chatter here.
        command += ["-n", f"{name}@%h", "--without-mingle", "--without-gossip", "--without-heartbeat"]
        worker = self._start(name, command, ready_marker=" ready.")
        self.workers.append(worker)
        return worker

    def start_beat(self) -> None:
        schedule = self.directory / "celerybeat-schedule"
        command = [CELERY, "-A", "orchestrator", "beat", "-l", "info", "-s", str(schedule)]
        self.beat = self._start("beat", command, ready_marker="beat: Starting")

    def kill_worker(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """End every running worker, by default without any chance to clean up or hand work back."""
        for worker in self.workers:
            _end(worker, sig)
        self.workers = []

    def ensure_running(self) -> None:
        """Repair what an earlier, failed test may have left stopped."""
        self.workers = [w for w in self.workers if w.poll() is None]
        if not self.workers:
            self.start_worker()
        if self.beat is None or self.beat.poll() is not None:
            self.start_beat()

    def stop(self) -> None:
        self.kill_worker(signal.SIGKILL)
        if self.beat is not None:
            _end(self.beat, signal.SIGKILL)
            self.beat = None

    def _start(self, name: str, command: list[str], *, ready_marker: str) -> subprocess.Popen[bytes]:
        log = self.directory / f"{name}.log"
        # A restarted process appends to its predecessor's log: look for the marker after that.
        offset = log.stat().st_size if log.exists() else 0
        process = _spawn(command, log, self.env)

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode}:\n{log_tail(log)}")
            with log.open("rb") as text:
                text.seek(offset)
                return ready_marker.encode() in text.read()

        wait_until(ready, timeout=60, what=f"{name} to start (log: {log})")
        return process
