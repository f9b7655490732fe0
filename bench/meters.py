"""CPU use per role (worker, web, PostgreSQL, ...) between two moments, from /proc."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import procs
from bench.stats import pct

# A role's processes, looked up at each snapshot (a role may gain or lose processes).
Roles = dict[str, Callable[[], list[int]]]


@dataclass
class Snapshot:
    at: float  # time.monotonic()
    cpu: dict[str, float]  # CPU seconds per role
    machine_busy: float  # CPU seconds of all cores, busy
    machine_total: float  # CPU seconds of all cores, busy or idle


def snapshot(roles: Roles) -> Snapshot:
    cpu = {name: procs.cpu_seconds(pids()) for name, pids in roles.items()}
    busy, total = _machine_ticks()
    return Snapshot(time.monotonic(), cpu, busy, total)


def cpu_percent(before: Snapshot, after: Snapshot) -> dict[str, float | None]:
    """Each role's CPU as a percentage of one core over the interval (100 = one core busy); "other"
    likewise for CPU that no role used (this machine's other tenants, the kernel); "machine" as the
    percentage of all cores busy."""
    seconds = after.at - before.at
    if seconds < 0.9:  # /proc counts in ticks of 10 ms: too coarse for a shorter interval
        return {}
    used = {name: after.cpu[name] - before.cpu.get(name, 0.0) for name in after.cpu}
    # A role's CPU can seem to go down when one of its processes ends between the reading of the
    # process and the reading of its parent, which only then counts it among its children (seen with
    # other tenants' PostgreSQL backends): such a figure is unknown, not negative.
    result: dict[str, float | None] = {
        name: pct(value, seconds) if value >= 0 else None for name, value in used.items()
    }
    busy = after.machine_busy - before.machine_busy
    result["other"] = pct(busy - sum(value for value in used.values() if value >= 0), seconds)
    result["machine"] = pct(busy, after.machine_total - before.machine_total)
    return result


def _machine_ticks() -> tuple[float, float]:
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is inside user)
    idle = fields[3] + fields[4]
    return (total - idle) / procs.CLOCK_TICKS, total / procs.CLOCK_TICKS


def wait_quiet(max_wait: float, busy_below: float = 25.0) -> float:
    """Wait, up to ``max_wait`` seconds, for a second in which under ``busy_below`` % of the machine's
    CPU is busy: other tenants' bursts (a test suite, a type check) would otherwise be measured as
    ours. Returns the busy percentage last seen; the measurement goes ahead either way."""
    deadline = time.monotonic() + max_wait
    while True:
        busy0, total0 = _machine_ticks()
        time.sleep(1)
        busy1, total1 = _machine_ticks()
        busy = pct(busy1 - busy0, total1 - total0) or 0.0
        if busy < busy_below or time.monotonic() > deadline:
            return busy
