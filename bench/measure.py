"""One measurement of one endpoint at one concurrency: the load, the latency, every role's CPU over
exactly the measured window, and what the database says was stored. Shared by the receive, growth
and loadgen scenarios."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from bench import loadgen, meters, procs
from bench.context import Column, Context
from bench.stack import Stack
from bench.stats import pct
from bench.workloads import Endpoint


@dataclass
class LoadSettings:
    levels: list[int]  # concurrent senders
    duration: float  # measured seconds per level
    warmup: float  # seconds sent before each measurement, not measured
    engine: str  # loadgen engine: "wrk" or "python"
    quiet_wait: float  # seconds to wait for other tenants' CPU bursts to pass, before each measurement
    # Each measurement is split into this many runs of duration/repeats, each with fresh connections,
    # and the run of median throughput is reported (see measure_repeated).
    repeats: int = 1

    @classmethod
    def from_context(cls, context: Context) -> LoadSettings:
        options, quick = context.options, context.quick
        levels = options.get("levels", "1,4,16,64")
        engine = options.get("loadgen", loadgen.default_engine())
        if engine not in loadgen.ENGINES:
            raise ValueError(f"loadgen must be one of {loadgen.ENGINES}, not {engine!r}")
        return cls(
            levels=[int(level) for level in levels.split(",")],
            duration=float(options.get("duration", 1 if quick else 10)),
            warmup=float(options.get("warmup", 0 if quick else 1)),
            engine=engine,
            quiet_wait=float(options.get("quiet_wait", 0 if quick else 3)),
            repeats=int(options.get("repeats", 1 if quick else 3)),
        )


def roles(stack: Stack) -> meters.Roles:
    """CPU per role. The runner counts without its children: the load generator reports its own."""
    found: meters.Roles = {
        "web": stack.web_pids,
        "postgres": lambda: procs.pids_named("postgres"),  # all of the cluster's processes
        "redis": lambda: [stack.pid("redis")],
        "worker": lambda: stack.workers.pids if stack.workers else [],
        "receiver": lambda: [stack.pid("receiver")],
        "runner": lambda: [-os.getpid()],  # negative: this process only, not its children
    }
    for name in stack.service_roles():
        found[name] = _service_pids(stack, name)
    return found


def _service_pids(stack: Stack, name: str) -> Callable[[], list[int]]:
    return lambda: stack.service_roles().get(name, [])


def measure(
    stack: Stack,
    endpoint: Endpoint,
    concurrency: int,
    settings: LoadSettings,
    context: Context,
    *,
    engine: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Closed-loop load on ``endpoint`` for ``settings.duration`` seconds; a row of figures."""
    busy = meters.wait_quiet(settings.quiet_wait) if settings.quiet_wait > 0 else None
    spec = loadgen.LoadSpec(
        url=endpoint.url,
        concurrency=concurrency,
        duration=settings.duration,
        warmup=settings.warmup,
        body=endpoint.body,
        content_type=endpoint.content_type,
        headers=endpoint.headers,
    )
    snapshots: dict[str, meters.Snapshot] = {}
    role_map = roles(stack)
    # This database's backends (a part of "postgres", which counts the whole cluster, other
    # databases' work included), per backend: found just after each snapshot, so as not to delay it.
    # A backend opened during the window counts from zero; one that closed during it is left out.
    backends_at_start: dict[int, float] = {}
    backends_used = [0.0]

    def on_window(mark: str) -> None:
        snapshots[mark] = meters.snapshot(role_map)
        if mark == "W":
            backends_at_start.update({pid: procs.cpu_seconds([pid]) for pid in backend_pids(stack)})
        else:
            backends_used[0] = sum(
                max(0.0, procs.cpu_seconds([pid]) - backends_at_start.get(pid, 0.0))
                for pid in backend_pids(stack)
            )

    started = time.monotonic()
    result = loadgen.run(spec, engine=engine or settings.engine, on_window=on_window)
    cpu = meters.cpu_percent(snapshots["W"], snapshots["E"]) if len(snapshots) == 2 else {}
    if cpu:
        cpu["pg_backends"] = pct(backends_used[0], snapshots["E"].at - snapshots["W"].at)
    if cpu and result.cpu_pct is not None:
        cpu["loadgen"] = result.cpu_pct
        cpu["other"] = round((cpu.get("other") or 0.0) - result.cpu_pct, 1)
    summary = result.summary()
    row: dict[str, Any] = {
        "endpoint": endpoint.key,
        "label": endpoint.label,
        "concurrency": concurrency,
        **(extra or {}),
        **summary,
        "ok": result.ok(*endpoint.expected),
        "ok_pct": round(100 * result.ok(*endpoint.expected) / result.completed, 2)
        if result.completed
        else 0.0,
        "cpu_pct": cpu,
        # CPU per answered request, over the window: where each request's cost goes.
        "cpu_ms_per_request": {
            role: round(10 * value / summary["per_s"], 3)
            for role, value in cpu.items()
            if role in ("web", "postgres", "pg_backends", "redis", "worker")
            and value is not None
            and summary["per_s"]
        },
        # The generator's share of the machine's CPU (all cores).
        "loadgen_machine_pct": (
            round(result.cpu_pct / (os.cpu_count() or 1), 1) if result.cpu_pct is not None else None
        ),
        "machine_busy_pct_before": busy,
        "load_average": os.getloadavg()[0],
        "seconds": round(time.monotonic() - started, 1),
    }
    if endpoint.outcome is not None:
        rows = stack.sql("SELECT outcome, count(*) FROM triggers_delivery GROUP BY outcome")
        row["deliveries"] = {outcome: int(count) for outcome, count in rows}
    return row


def measure_repeated(
    stack: Stack,
    endpoint: Endpoint,
    concurrency: int,
    settings: LoadSettings,
    context: Context,
    *,
    extra: dict[str, Any] | None = None,
    between: Callable[[], None] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``settings.repeats`` measurements of ``duration / repeats`` seconds; returns the one of median
    throughput, holding every run's answers/s as ``per_s_each``, and all of them.

    Why: gunicorn's processes split kept-alive connections by whoever accepts first, and a connection
    stays with its process for good; now and then one process holds most of them and half the machine
    idles for the whole measurement (web CPU near 100% instead of 180%). Each run opens its
    connections afresh, so the median of three is one where they were spread as usual. ``between``
    runs after each run but the last (emptying the tables, say)."""
    each = replace(settings, duration=settings.duration / max(1, settings.repeats))
    runs: list[dict[str, Any]] = []
    for number in range(max(1, settings.repeats)):
        if number and between is not None:
            between()
        runs.append(measure(stack, endpoint, concurrency, each, context, extra=extra))
    ranked = sorted(runs, key=lambda row: row["per_s"] or 0.0)
    chosen = dict(ranked[len(ranked) // 2])
    chosen["per_s_each"] = [row["per_s"] for row in runs]
    return chosen, runs


def backend_pids(stack: Stack) -> list[int]:
    rows = stack.sql(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    return [int(row[0]) for row in rows]


def problems(row: dict[str, Any], endpoint: Endpoint) -> list[str]:
    """What says the harness (not the product's speed) went wrong: no answers, or more than 1% of
    them not the expected status, or deliveries with another outcome than expected."""
    where = f"{endpoint.label} at {row['concurrency']} senders"
    found = []
    if not row["completed"]:
        found.append(f"{where}: no answer at all ({row['all_statuses']})")
    elif row["ok_pct"] < 99:
        found.append(f"{where}: only {row['ok_pct']}% answered {endpoint.expected} ({row['statuses']})")
    deliveries = row.get("deliveries") or {}
    others = sum(count for outcome, count in deliveries.items() if outcome != endpoint.outcome)
    if endpoint.outcome is not None and others > 0.01 * max(1, sum(deliveries.values())):
        found.append(f"{where}: deliveries other than {endpoint.outcome}: {deliveries}")
    return found


def one_line(row: dict[str, Any]) -> str:
    latency = row["latency_ms"]
    cpu = row["cpu_pct"] or {}
    return (
        f"{row['label']} c={row['concurrency']}{' +workers' if row.get('workers') else ''}: "
        f"{row['per_s']}/s, p50 {latency.get('p50')} ms, p99 {latency.get('p99')} ms; "
        f"loadgen {row['loadgen_cpu_pct']}% of a core, web {cpu.get('web')}%, others {cpu.get('other')}%"
    )


# The columns of a closed-loop measurement (one row of measure()) that scenarios' tables share.
LOAD_COLUMNS = [
    Column("concurrency", "senders"),
    Column("per_s", "answers/s"),
    Column("latency_ms.p50|latency_ms.p90|latency_ms.p99|latency_ms.max", "ms p50 / p90 / p99 / max"),
    Column("ok_pct", "% 202"),
    Column("cpu_ms_per_request.web", "web CPU ms /req"),
    Column("cpu_ms_per_request.pg_backends", "PG backends CPU ms /req"),
]
