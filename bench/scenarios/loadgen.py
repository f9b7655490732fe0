"""Is the load generator the bottleneck? The bare view (a), where the server is fastest and so the
generator's share of the two cores the largest, at 16 and 64 senders with each generator:

- ``wrk`` (C, epoll; where installed: ``apt-get install wrk``), the leanest;
- ``python``: bench/loadgen.py, asyncio callbacks over kept-alive connections, in a process of its own;
- ``threads``: bench/load.py, threads with http.client, the harness's first generator.

Each for the same fixed duration; the figures are the server's answers per second and latency as
each generator saw them, and the generator's own CPU (percentage of one core, and per request). The
generator and the server share the machine's two cores: a generator that needs more CPU per request
leaves less to the server, and its figures come out lower. The other scenarios use wrk where it is
installed and the python generator otherwise (the report says which).
Options: loadgen_levels (16,64; quick mode: 16), duration, warmup, quiet_wait.
"""

from __future__ import annotations

import time
from typing import Any

from bench import load, loadgen, measure, meters
from bench.context import Column, Context, ScenarioResult
from bench.stack import Stack
from bench.stack_config import StackConfig
from bench.stats import pct, spread_ms
from bench.workloads import prepare

QUESTION = (
    "Does the load generator limit what is measured? The bare view at 16 and 64 senders with wrk, "
    "the asyncio generator and the threaded one, with each generator's own CPU."
)


def run(context: Context) -> ScenarioResult:
    settings = measure.LoadSettings.from_context(context)
    default_levels = "16" if context.quick else "16,64"
    levels = [int(level) for level in context.options.get("loadgen_levels", default_levels).split(",")]
    engines = [*(["wrk"] if loadgen.wrk_binary() else []), "python", "threads"]
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    notes = [] if loadgen.wrk_binary() else ["wrk is not installed: compared without it"]
    with Stack(StackConfig(), context.work_dir) as stack:
        baseline = prepare(stack, "a")["a"]
        for level in levels:
            for engine in engines:
                if engine == "threads":
                    row = _threads(stack, baseline.url, level, settings)
                else:
                    row = measure.measure(stack, baseline, level, settings, context, engine=engine)
                row["engine"] = engine
                rows.append(row)
                errors.extend(measure.problems(row, baseline))
                context.say(
                    f"{engine}: {measure.one_line(row)}; {row['loadgen_cpu_us_per_request']} us/request"
                )
        memory = {"web": stack.web_peak_rss_mb()}
    return ScenarioResult(
        name="loadgen",
        question=QUESTION,
        settings={**settings.__dict__, "levels": levels, "engines": engines},
        rows=rows,
        columns=COLUMNS,
        conclusion=_conclusion(rows),
        notes=notes,
        errors=errors,
        peak_rss_mb=memory,
    )


def _threads(stack: Stack, url: str, level: int, settings: measure.LoadSettings) -> dict[str, Any]:
    """bench/load.py in this process: its CPU is this process's (the runner role, without children)."""
    if settings.quiet_wait > 0:
        meters.wait_quiet(settings.quiet_wait)
    load.send_webhooks(url, total=10**9, concurrency=level, duration=settings.warmup)
    roles = measure.roles(stack)
    before = meters.snapshot(roles)
    cpu_before = time.process_time()
    result = load.send_webhooks(url, total=10**9, concurrency=level, duration=settings.duration)
    cpu_seconds = time.process_time() - cpu_before
    after = meters.snapshot(roles)
    cpu = meters.cpu_percent(before, after)
    web = cpu.get("web")
    answered = sum(result.statuses.values())
    per_s = round(answered / result.duration, 1) if result.duration else None
    return {
        "endpoint": "a",
        "label": "(a) baseline: bare DRF view",
        "concurrency": level,
        "window_s": round(result.duration, 2),
        "completed": answered,
        "per_s": per_s,
        "latency_ms": spread_ms(result.latencies),
        "statuses": dict(result.statuses),
        "all_statuses": dict(result.statuses),
        "ok": result.statuses["200"],
        "ok_pct": round(100 * result.statuses["200"] / answered, 2) if answered else 0.0,
        "cpu_pct": cpu,
        "loadgen_cpu_pct": pct(cpu_seconds, result.duration),
        "loadgen_cpu_us_per_request": round(1e6 * cpu_seconds / answered, 1) if answered else None,
        "cpu_ms_per_request": {"web": round(10 * web / per_s, 3)} if web and per_s else {},
    }


def _conclusion(rows: list[dict[str, Any]]) -> str:
    parts = []
    for level in sorted({row["concurrency"] for row in rows}):
        at = {row["engine"]: row for row in rows if row["concurrency"] == level}
        parts.append(
            f"at {level} senders: "
            + ", ".join(
                f"{engine} {row['per_s']}/s using {row['loadgen_cpu_pct']}% of a core "
                f"({row['loadgen_cpu_us_per_request']} us/request)"
                for engine, row in at.items()
            )
        )
    return "The bare view " + "; ".join(parts) + "."


COLUMNS = [
    Column("engine", "generator"),
    Column("concurrency", "senders"),
    Column("per_s", "answers/s"),
    Column("latency_ms.p50|latency_ms.p99", "ms p50 / p99"),
    Column("loadgen_cpu_pct", "generator CPU % of a core"),
    Column("loadgen_cpu_us_per_request", "generator CPU us /req"),
    Column("cpu_pct.web", "web CPU %"),
    Column("cpu_ms_per_request.web", "web CPU ms /req"),
    Column("cpu_pct.other", "others' CPU %"),
]
