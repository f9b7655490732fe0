"""``make bench``: run the scenarios, write bench/results/<UTC date-time>.json and latest.md.

    .venv/bin/python -m bench.run                      # every scenario, full size (~10 minutes)
    .venv/bin/python -m bench.run --quick              # a few seconds each: checks the harness works
    .venv/bin/python -m bench.run -s http_steps --set workers=threads:64:1 --set webhooks=5000

BENCH_QUICK=1 means --quick. BENCH_ADMIN_DATABASE_URL says where to create (and drop) the database
orchestrator_bench; default postgresql://127.0.0.1:5432/postgres. Ctrl-C (or SIGTERM) stops cleanly:
every process ended, the bench database dropped. Everything runs on 127.0.0.1.
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
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

from bench.context import Context, ScenarioResult
from bench.procs import REPO
from bench.scenarios import SCENARIOS
from bench.stats import markdown_table

RESULTS = Path(__file__).resolve().parent / "results"
BUDGET_SECONDS = {"full": 600, "quick": 60}  # per scenario


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
        }
    report["duration_s"] = round((datetime.datetime.now(datetime.UTC) - started).total_seconds(), 1)
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
    return "\n".join(lines) + "\n"


def write_results(started: datetime.datetime, report: dict[str, Any], markdown: str) -> None:
    """<UTC date-time>.json and latest.md; a quick run's files say "quick" (and git ignores them), so
    that checking the harness never overwrites a real measurement."""
    RESULTS.mkdir(exist_ok=True)
    suffix = "-quick" if report["mode"] == "quick" else ""
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"{stamp}{suffix}.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / f"latest{suffix}.md").write_text(markdown)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the stacks have stopped their processes and dropped their databases
        sys.exit("interrupted: every process started was ended, the bench database dropped")
