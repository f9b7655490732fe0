"""`make run`: the whole product on this machine, with nothing but Python.

Migrates, makes the demo user and workflow, then runs the web server, a Celery worker and Celery beat
side by side, each output line prefixed with its name. Ctrl-C (SIGINT), SIGTERM or SIGHUP stops all
three; if one of them dies, the others are stopped too and the exit status is 1.

The web server is Django's runserver with --insecure: it serves the admin's CSS while DEBUG stays off,
as in production (gunicorn, the production server, serves no static files). It listens on 127.0.0.1
only. PORT picks the port (default 8000); every other setting comes from the environment as usual.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable  # make starts us with the venv's python, so children use the venv too
# Then SIGKILL. A warm Celery shutdown takes ~5 s on the filesystem broker, plus the rest of any step
# in flight (10 s timeout by default); a run cut short is taken over by the sweeper on the next start.
STOP_GRACE_SECONDS = 20
_print_lock = threading.Lock()
_relays: list[threading.Thread] = []


def say(line: str) -> None:
    with _print_lock:
        print(line, flush=True)


def child_env(port: int) -> dict[str, str]:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "orchestrator.settings"
    # Webhook URLs and the demo's echo step must point at the address the server really listens on.
    env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
    # The demo step calls this same machine; the outbound guard must let it through.
    env.setdefault("OUTBOUND_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
    env["PYTHONUNBUFFERED"] = "1"  # lines reach the console as they are written, not in blocks
    return env


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, check=False
    )
    if done.returncode != 0:  # its stderr already reached the console
        sys.exit(f"devstack: `manage.py {' '.join(args)}` failed (exit {done.returncode})")
    return done.stdout


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        # As runserver does: so that the last run's connections in TIME_WAIT do not count as "in use".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start(
    name: str, args: list[str], env: dict[str, str], ready: threading.Event | None = None
) -> subprocess.Popen[str]:
    # A session of its own: a Ctrl-C in the terminal reaches only us, and we stop each child once, in
    # order, with its whole process group (two SIGINTs would make Celery skip its warm shutdown).
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    relay_thread = threading.Thread(target=relay, args=(name, proc, ready), daemon=True)
    relay_thread.start()
    _relays.append(relay_thread)
    return proc


def relay(name: str, proc: subprocess.Popen[str], ready: threading.Event | None) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        say(f"{name:<6} | {line.rstrip()}")
        if ready is not None and line.rstrip().endswith(" ready."):  # Celery's "celery@host ready."
            ready.set()


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):  # noqa: S310  (our own http:// URL)
            return True
    except OSError:
        return False


def wait_until_up(
    url: str, worker_ready: threading.Event, children: dict[str, subprocess.Popen[str]], stop: threading.Event
) -> bool:
    """Wait for the web server to answer and the worker to be ready, so that the banner comes after
    their start-up output instead of being buried in it. The worker's "ready" line is missing when
    LOG_LEVEL is above INFO: then 20 s are enough."""
    deadline = time.monotonic() + 20
    serving = False
    while not stop.is_set() and all(p.poll() is None for p in children.values()):
        serving = serving or answers(url)
        if serving and (worker_ready.is_set() or time.monotonic() > deadline):
            return True
        stop.wait(0.3)
    return False


def stop_all(children: dict[str, subprocess.Popen[str]]) -> None:
    for proc in children.values():
        # The whole group, even of a child that died: nothing it started may outlive us.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for name, proc in children.items():
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"devstack: {name} did not stop within {STOP_GRACE_SECONDS} s, killing it")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    for relay_thread in _relays:  # their last lines (why a child stopped) are worth seeing
        relay_thread.join(timeout=2)


def main() -> int:
    port_text = os.environ.get("PORT", "8000")
    if not port_text.isdigit():
        sys.exit(f"devstack: PORT must be a port number, not {port_text!r}")
    port = int(port_text)
    if not port_is_free(port):
        sys.exit(
            f"devstack: port {port} on 127.0.0.1 is in use; free it or choose another: PORT=8001 make run"
        )
    env = child_env(port)
    say("devstack: migrating the database")
    manage(env, "migrate", "--noinput", "--verbosity", "0")
    banner = manage(env, "demo_setup")

    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)

    celery = [PYTHON, "-m", "celery", "-A", "orchestrator"]
    worker_ready = threading.Event()
    children = {
        "web": start(
            "web", [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--insecure"], env
        ),
        "worker": start(
            "worker",
            [*celery, "worker", "--pool", "threads", "--concurrency", "8", "-l", "info"],
            env,
            worker_ready,
        ),
        "beat": start("beat", [*celery, "beat", "-l", "info"], env),
    }
    if wait_until_up(f"{env['PUBLIC_BASE_URL']}/admin/login/", worker_ready, children, stop):
        say(f"\nOrchestrator is running at {env['PUBLIC_BASE_URL']}/  (Ctrl-C stops everything)\n{banner}")

    exit_code = 0
    while not stop.wait(0.5):
        dead = [
            f"{name} (exit {proc.returncode})" for name, proc in children.items() if proc.poll() is not None
        ]
        if dead:
            say(f"devstack: {', '.join(dead)} stopped on its own; stopping the rest")
            exit_code = 1
            break
    if received:
        say(f"devstack: {signal.Signals(received[0]).name} received, stopping")
    stop_all(children)
    say("devstack: all stopped")
    return exit_code


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # during migrate or demo_setup, before any server has started
        sys.exit(130)
