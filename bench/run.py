"""``make bench``: run the scenarios, write bench/results/<UTC date-time>.json, latest.md (the
tables, the ratios and the targets) and latest.png (the receive scenario's latency chart).

    .venv/bin/python -m bench.run                      # every scenario, full size (~15 minutes)
    .venv/bin/python -m bench.run --quick              # a few seconds each: checks the harness works
    .venv/bin/python -m bench.run -s receive --set levels=16 --set loadgen=python
    .venv/bin/python -m bench.run -s http_steps --set workers=threads:16:1:p2 --set webhooks=5000

BENCH_QUICK=1 means --quick. BENCH_ADMIN_DATABASE_URL says where to create (and drop) the database
orchestrator_bench_<pid>; default postgresql://127.0.0.1:5432/postgres. Ctrl-C (or SIGTERM) stops
cleanly: every process ended, the bench database dropped. Everything runs on 127.0.0.1.
The exit status is non-zero when the harness failed (a scenario raised, or found answers or runs
that say the setup is wrong), never because of a figure: targets not met are only reported.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

from bench import chart, loadgen, targets
from bench.context import Context, ScenarioResult
from bench.procs import REPO
from bench.scenarios import SCENARIOS
from bench.stack_config import BENCH_ENV
from bench.stats import markdown_table
from bench.workloads import TRIGGER_SETTINGS

RESULTS = Path(__file__).resolve().parent / "results"
BUDGET_SECONDS = {"full": 600, "quick": 90}  # per scenario


def main() -> int:
    args = _arguments()
    quick = args.quick or os.environ.get("BENCH_QUICK", "") not in ("", "0")
    mode = "quick" if quick else "full"
    _exit_cleanly_on_signals()
    started = datetime.datetime.now(datetime.UTC)
    report: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "mode": mode,
        "machine": machine_info(),
        "versions": versions(),
        "loadgen": {"engine": loadgen.default_engine(), "wrk": loadgen.wrk_binary()},
        # The only differences from production settings (bench/stack.py); everything else is default.
        "differences_from_production": {**BENCH_ENV, **TRIGGER_SETTINGS},
        "scenarios": {},
    }
    results: list[ScenarioResult] = []
    work_root = Path(tempfile.mkdtemp(prefix="orchestrator-bench-"))
    failed = False
    for name in args.scenario or list(SCENARIOS):
        context = Context(
            quick=quick,
            work_dir=work_root / name,
            deadline=time.monotonic() + BUDGET_SECONDS[mode],
            options=dict(item.split("=", 1) for item in args.set),
        )
        context.say(f"{name} ({mode}); logs in {context.work_dir}")
        try:
            result = SCENARIOS[name].run(context)
        except Exception as exc:  # report the others; the stack has already cleaned up after itself
            context.say(f"{name} FAILED: {exc!r}")
            report["scenarios"][name] = {"error": repr(exc)}
            failed = True
            continue
        results.append(result)
        report["scenarios"][name] = {
            "question": result.question,
            "settings": result.settings,
            "rows": result.rows,
            "conclusion": result.conclusion,
            "notes": result.notes,
            "errors": result.errors,
            "peak_rss_mb": result.peak_rss_mb,
        }
        for error in result.errors:
            context.say(f"{name}: HARNESS ERROR: {error}")
        failed = failed or bool(result.errors)
    report["duration_s"] = round((datetime.datetime.now(datetime.UTC) - started).total_seconds(), 1)
    report["ratios"] = targets.ratios(report)
    report["targets"] = [{**asdict(t), "verdict": t.verdict} for t in targets.evaluate(report)]
    markdown = render_markdown(report, results)
    write_results(started, report, markdown)
    print(markdown)
    if failed or args.keep_logs:
        print(f"logs kept in {work_root}", file=sys.stderr)
    else:
        shutil.rmtree(work_root, ignore_errors=True)
    return 1 if failed else 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a few seconds per scenario")
    parser.add_argument("-s", "--scenario", action="append", choices=sorted(SCENARIOS))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="scenario option")
    parser.add_argument("--keep-logs", action="store_true", help="keep the services' logs after success")
    return parser.parse_args()


def _exit_cleanly_on_signals() -> None:
    # SIGTERM/SIGHUP become SystemExit, so the stacks' `with` blocks end their processes and drop the
    # database, as Ctrl-C's KeyboardInterrupt already does.
    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    # A shell starts background jobs with SIGINT ignored, and Python keeps it so: restore Ctrl-C.
    signal.signal(signal.SIGINT, signal.default_int_handler)


def machine_info() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line), "")
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "load_average_at_start": os.getloadavg(),
    }


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("Django", "celery", "kombu", "redis", "psycopg", "gunicorn", "requests"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[package] = metadata.version(package)
    for name, command in {
        "postgresql": ["psql", "-X", "-At", "-h", "127.0.0.1", "-d", "postgres", "-c", "SHOW server_version"],
        "redis-server": ["redis-server", "--version"],
        "commit": ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
    }.items():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            found[name] = subprocess.run(command, capture_output=True, text=True, timeout=10).stdout.strip()
    return found


def render_markdown(report: dict[str, Any], results: list[ScenarioResult]) -> str:
    machine = report["machine"]
    lines = [
        f"# Benchmark {report['started_at']} ({report['mode']} mode)",
        "",
        f"{machine['nproc']} x {machine['cpu_model']}, {machine['memory_gb']} GB; "
        f"load average at start {', '.join(f'{v:.2f}' for v in machine['load_average_at_start'])}; "
        f"commit {report['versions'].get('commit', '?')}; took {report['duration_s']} s.",
    ]
    for result in results:
        lines += ["", f"## {result.name}", "", result.question, ""]
        headers = [column.header for column in result.columns]
        rows = [[result.cell(row, column.key) for column in result.columns] for row in result.rows]
        lines.append(markdown_table(headers, rows))
        lines += ["", *(f"- {note}" for note in [result.conclusion, *result.notes] if note)]
    for name, entry in report["scenarios"].items():
        if "error" in entry:
            lines += ["", f"## {name}", "", f"FAILED: {entry['error']}"]
        for error in entry.get("errors", []):
            lines += ["", f"- HARNESS ERROR ({name}): {error}"]
    return "\n".join([*lines[:3], *_summary(report), *lines[3:]]) + "\n"


def _summary(report: dict[str, Any]) -> list[str]:
    """The ratios, the targets, and how the stack differs from production: first, before the tables."""
    r = report["ratios"]
    engine = report["loadgen"]["engine"]

    def shown(value: float | None, percent: bool = False) -> str:
        if value is None:
            return "-"
        return f"{100 * value:.1f}%" if percent else f"{value:,.1f}"

    lines = [
        "",
        f"At {targets.REFERENCE_SENDERS} senders, no worker running: (b)/(a) = {shown(r['b_over_a'], True)}, "
        f"(c)/(a) = {shown(r['c_over_a'], True)}; (b) p99 = {shown(r['b_p99_ms'])} ms "
        f"((a) {shown(r['a_per_s'])}/s, (b) {shown(r['b_per_s'])}/s, (c) {shown(r['c_per_s'])}/s).",
    ]
    if report["mode"] == "quick":
        lines += ["", "**Quick mode: these figures only show that the harness works; they measure nothing.**"]
    lines += ["", "## Targets", ""]
    rows = [[t["name"], t["requirement"], t["measured"], t["verdict"]] for t in report["targets"]]
    lines.append(markdown_table(["target", "requirement", "measured", "verdict"], rows))
    lines += [
        "",
        "## How it was measured",
        "",
        "Production settings and processes (gunicorn with orchestrator/gunicorn_conf.py, its access log "
        "included; Celery beat; the README's worker command), except:",
        "",
        *(f"- `{name}`: {why}" for name, why in report["differences_from_production"].items()),
        "",
        f"Load generator: {engine}"
        + (f" ({report['loadgen']['wrk']})" if engine == "wrk" else " (bench/loadgen.py; wrk not installed)")
        + "; it runs on the same two cores as the server, and its CPU is reported beside every figure. "
        "The end to end scenario always uses bench/loadgen.py (it needs each 202's run id).",
        "",
        "![latency and throughput against concurrent senders](latest.png)"
        if report["mode"] == "full"
        else "![latency and throughput against concurrent senders](latest-quick.png)",
    ]
    return lines


def write_results(started: datetime.datetime, report: dict[str, Any], markdown: str) -> None:
    """<UTC date-time>.json and latest.md; a quick run's files say "quick" (and git ignores them), so
    that checking the harness never overwrites a real measurement."""
    RESULTS.mkdir(exist_ok=True)
    suffix = "-quick" if report["mode"] == "quick" else ""
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"{stamp}{suffix}.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / f"latest{suffix}.md").write_text(markdown)
    chart.draw(report, RESULTS / f"latest{suffix}.png")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the stacks have stopped their processes and dropped their databases
        sys.exit("interrupted: every process started was ended, the bench database dropped")
