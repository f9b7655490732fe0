"""Child processes of the fault suite: spawning each in a session of its own under
``setpriv --pdeathsig KILL``, killing process groups, waiting, ports, and what is installed
(see tests/faults/services.py for why children start only from the main thread)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv's gunicorn and celery: the same code as the tests
PG_USER = "postgres"  # the system user that owns the private cluster when the suite runs as root
DATABASE = "orchestrator"
T = TypeVar("T")
# Loopback only: never through a proxy from the environment.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

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
