"""Child processes and what /proc says about them (CPU seconds, peak RSS).

Every child gets a session of its own, so that a Ctrl-C in the terminal reaches only the runner, which
then ends each child with its whole process group (gunicorn's workers, a prefork worker's children).
Children also get PR_SET_PDEATHSIG, so that even a runner killed with SIGKILL leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PR_SET_PDEATHSIG = 1
T = TypeVar("T")


def die_with_parent() -> None:
    # Runs in the child between fork and exec; only async-signal-safe work belongs here.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(command: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # Safe here: the runner starts children from its main thread only.
            preexec_fn=die_with_parent,
        )


def end(process: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM, grace: float = 10) -> None:
    """End the process and its group: ``sig`` first, SIGKILL if it is still there after ``grace``."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    # Whatever is left of the group (a child that outlived its parent) goes too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def wait_until(check: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def log_tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no log file)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# --- /proc ----------------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after the last ')'.
    return text[text.rindex(")") + 2 :].split()


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def descendants(pid: int) -> list[int]:
    """The process and everything below it, found by parent pid."""
    parents: dict[int, list[int]] = {}
    for child in _all_pids():
        fields = _stat_fields(child)
        if fields is not None:
            parents.setdefault(int(fields[1]), []).append(child)
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def pids_named(prefix: str) -> list[int]:
    pids = []
    for pid in _all_pids():
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/comm").read_text().startswith(prefix):
                pids.append(pid)
    return pids


def cpu_seconds(pids: Iterable[int]) -> float:
    """User plus system CPU of the processes (each with all its threads) and of their children that
    have ended, in seconds. The children count: PostgreSQL forks a backend per connection, and a
    worker that reconnects for every task leaves a trail of short-lived backends. A negative pid
    means that process without its children (the runner, whose load generator reports itself)."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(abs(pid))
        if fields is not None:
            # utime, stime, then cutime, cstime
            ticks += sum(int(value) for value in fields[11 : 15 if pid > 0 else 13])
    return ticks / CLOCK_TICKS


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM: the most resident memory the process ever had."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
