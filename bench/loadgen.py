"""The load generator: ``concurrency`` senders over kept-alive HTTP/1.1 connections, one request at a
time on each (closed loop: no pipelining, the next request leaves when the answer is in).

Two engines, because on a two-core machine the generator's CPU is taken from the server it measures
(``python -m bench.run -s loadgen`` compares them on the bare view, and every row reports the
generator's own CPU):
- ``wrk`` where it is installed (``apt-get install wrk``): C and epoll, ~20-60 µs of CPU per request
  here. Closed loop for a duration only; it tells 2xx from the rest, not each status (the receive
  scenario checks the outcomes in the database instead).
- ``python``: this module, asyncio with plain protocol callbacks (no coroutine per request), in a
  process of its own: ~65-110 µs per request. Also paced (request n leaves at start + n / rate,
  whichever sender is free sends it), a fixed number of requests, and the run id of each 202, which
  the end to end scenario needs. The first generator, bench/load.py (threads with http.client), costs
  ~120-250 µs and held the bare view's figures down.

``run()`` starts the engine in a process of its own. The python engine reads a ``LoadSpec`` as JSON
on stdin (``python -m bench.sender``), prints ``W`` when the measured window starts and ``E`` when
it ends, so that the runner reads every process's CPU counters at exactly those moments (for wrk the
runner marks them around the measured run), then the ``LoadResult`` as one line of JSON.
"""

from __future__ import annotations

import base64
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import procs
from bench.stats import percentile, spread_ms

IDLE_RECONNECT_S = 1.0  # gunicorn closes a kept-alive connection idle for 2 s: never reuse one that old


@dataclass
class LoadSpec:
    url: str
    concurrency: int
    duration: float = 0.0  # seconds measured, after the warm-up (closed loop)
    warmup: float = 0.0  # seconds sent but not measured: connections opened, caches warm
    total: int = 0  # send exactly this many requests instead (the window is then all of them)
    rate: float = 0.0  # paced: requests per second over all senders; 0: as fast as answered
    method: str = "POST"
    body: bytes = b""
    content_type: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    keep_run_ids: bool = False  # read the run id of each 202 (the end-to-end latency needs it)
    timeout: float = 30.0  # per request


@dataclass
class Accepted:
    run_id: int
    sent_at: float  # unix time the request was sent
    accepted_at: float  # unix time its 202 was read


@dataclass
class LoadResult:
    concurrency: int
    window_s: float
    completed: int  # answers read inside the window
    statuses: Counter[str]  # of those: HTTP status, or the error's name
    latencies: list[float]  # seconds, request written → answer read, inside the window
    cpu_s: float  # the generator's own CPU inside the window
    sent: int  # every request sent, warm-up included
    all_statuses: Counter[str]  # of every request sent, warm-up included
    started_at: float  # unix time of the first request
    accepted: list[Accepted] = field(default_factory=list)
    engine: str = "python"
    # Percentiles computed by the engine itself (wrk), when ``latencies`` are not available.
    latency_ms: dict[str, float | int | None] | None = None

    @property
    def per_s(self) -> float | None:
        return round(self.completed / self.window_s, 1) if self.window_s > 0 else None

    @property
    def cpu_pct(self) -> float | None:
        """The generator's CPU as a percentage of one core."""
        return round(100 * self.cpu_s / self.window_s, 1) if self.window_s > 0 else None

    @property
    def cpu_us_per_request(self) -> float | None:
        return round(1e6 * self.cpu_s / self.completed, 1) if self.completed else None

    def ok(self, *expected: str) -> int:
        """Answers with one of these statuses; wrk only tells 2xx apart from the rest ("2xx")."""
        if "2xx" in self.statuses:
            return self.statuses["2xx"] if any(s.startswith("2") for s in expected) else 0
        return sum(self.statuses[status] for status in expected)

    def summary(self) -> dict[str, Any]:
        """What goes into the results file (not the raw latencies)."""
        return {
            "concurrency": self.concurrency,
            "window_s": round(self.window_s, 2),
            "completed": self.completed,
            "per_s": self.per_s,
            "latency_ms": self.latency_ms
            or {**spread_ms(self.latencies), **_more_percentiles(self.latencies)},
            "engine": self.engine,
            "statuses": dict(self.statuses),
            "sent": self.sent,
            "all_statuses": dict(self.all_statuses),
            "loadgen_cpu_pct": self.cpu_pct,
            "loadgen_cpu_us_per_request": self.cpu_us_per_request,
        }


def _more_percentiles(latencies: list[float]) -> dict[str, float | None]:
    def ms(fraction: float) -> float | None:
        value = percentile(latencies, fraction)
        return None if value is None else round(value * 1000, 2)

    return {"p90": ms(0.90), "p999": ms(0.999), "mean": _mean_ms(latencies)}


def _mean_ms(values: list[float]) -> float | None:
    return round(1000 * sum(values) / len(values), 2) if values else None


# --- the runner's side ----------------------------------------------------------------------------

ENGINES = ("python", "wrk")


def wrk_binary() -> str | None:
    return shutil.which("wrk")


def default_engine() -> str:
    """wrk where it is installed (``apt-get install wrk``): it costs the least CPU per request;
    otherwise this module's generator."""
    return "wrk" if wrk_binary() else "python"


def run(
    spec: LoadSpec, *, engine: str = "python", on_window: Callable[[str], None] | None = None
) -> LoadResult:
    """Send the load with ``engine``. wrk only runs the closed loop for a duration: paced load, a fixed
    number of requests and run ids always use this module's generator."""
    if engine == "wrk" and not (spec.total or spec.rate or spec.keep_run_ids):
        binary = wrk_binary()
        if binary is not None:
            return _run_wrk(binary, spec, on_window)
    return _run_python(spec, on_window)


def _run_python(spec: LoadSpec, on_window: Callable[[str], None] | None) -> LoadResult:
    """Run the generator in a process of its own; ``on_window("W")`` and ``on_window("E")`` are called
    when its measured window starts and ends."""
    payload = {**asdict(spec), "body": base64.b64encode(spec.body).decode()}
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.sender"],
        cwd=procs.REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=procs.die_with_parent,
    )
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    try:
        process.stdin.write(json.dumps(payload).encode())
        process.stdin.close()
        last = b""
        for line in process.stdout:
            marker = line.strip()
            if marker in (b"W", b"E"):
                if on_window is not None:
                    on_window(marker.decode())
            else:
                last = line
        errors = process.stderr.read().decode(errors="replace")
        if process.wait() != 0 or not last:
            raise RuntimeError(f"load generator failed ({process.returncode}): {errors[-2000:]}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    data = json.loads(last)
    return LoadResult(
        concurrency=data["concurrency"],
        window_s=data["window_s"],
        completed=data["completed"],
        statuses=Counter(data["statuses"]),
        latencies=data["latencies"],
        cpu_s=data["cpu_s"],
        sent=data["sent"],
        all_statuses=Counter(data["all_statuses"]),
        started_at=data["started_at"],
        accepted=[Accepted(*item) for item in data["accepted"]],
    )


# wrk's script: the request, and a summary as one line of JSON when done (latencies in microseconds).
_WRK_SCRIPT = """
wrk.method = %(method)s
local body_file = io.open(%(body_path)s, "rb")
wrk.body = body_file:read("*a")
body_file:close()
%(headers)s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %%d, "duration_us": %%d, "connect": %%d, "read": %%d, "write": %%d, "status": %%d, '
    .. '"timeout": %%d, "p50": %%d, "p90": %%d, "p99": %%d, "p999": %%d, "max": %%d, "mean": %%f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
"""


def _lua_string(text: str) -> str:
    if not text.isascii() or any(c in text for c in '\\"\n\r'):
        raise ValueError(f"not given to wrk's script: {text!r}")
    return f'"{text}"'


def _run_wrk(binary: str, spec: LoadSpec, on_window: Callable[[str], None] | None) -> LoadResult:
    headers = dict(spec.headers)
    if spec.content_type:
        headers["Content-Type"] = spec.content_type
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as directory:
        body_path = Path(directory) / "body"
        body_path.write_bytes(spec.body)
        script_path = Path(directory) / "script.lua"
        script_path.write_text(
            _WRK_SCRIPT
            % {
                "method": _lua_string(spec.method),
                "body_path": _lua_string(str(body_path)),
                "headers": "\n".join(
                    f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()
                ),
            }
        )

        def wrk(seconds: float) -> tuple[dict[str, Any], float]:
            command = [binary, "-t1", f"-c{spec.concurrency}", f"-d{max(1, round(seconds))}s"]
            command += [f"--timeout={max(1, round(spec.timeout))}s", "-s", str(script_path), spec.url]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            done = subprocess.run(
                command, capture_output=True, text=True, check=False, preexec_fn=procs.die_with_parent
            )
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            if done.returncode != 0 or not lines:
                raise RuntimeError(
                    f"wrk failed ({done.returncode}): {done.stderr[-2000:]}{done.stdout[-2000:]}"
                )
            return json.loads(lines[-1]), cpu

        if spec.warmup > 0:
            wrk(spec.warmup)  # connections opened, server warm; not measured
        started_at = time.time()
        if on_window is not None:
            on_window("W")
        data, cpu = wrk(spec.duration)
        if on_window is not None:
            on_window("E")
    requests = data["requests"]
    statuses: Counter[str] = Counter({"2xx": requests - data["status"], "non-2xx": data["status"]})
    for error in ("connect", "read", "write", "timeout"):
        statuses[error] += data[error]
    statuses = Counter({key: value for key, value in statuses.items() if value})
    return LoadResult(
        concurrency=spec.concurrency,
        window_s=data["duration_us"] / 1e6,
        completed=requests,
        statuses=statuses,
        latencies=[],
        cpu_s=cpu,
        sent=requests,
        all_statuses=statuses,
        started_at=started_at,
        engine="wrk",
        latency_ms={
            "n": requests,
            **{key: round(data[key] / 1000, 2) for key in ("p50", "p90", "p99", "p999", "max")},
            "mean": round(data["mean"] / 1000, 2),
        },
    )
