"""Everything the product logs during a whole flow holds no secret: not the webhook key, the API token,
the inbound signing secret, nor a step's password, token, API key or outbound signing secret.

The flow runs on the real stack, over HTTP: the API through the live server with a token, a signed
webhook, a real worker calling a local receiver with each kind of credential, a wrong key, a wrong
signature and a replay. What is read afterwards: every log record of this process at DEBUG (the live
server runs here), this process's stdout and stderr at the file descriptors (the product's console
handlers included), and the log files of a worker and beat started for this module at DEBUG.

An API key a step sends in the query string reaches the worker's log at DEBUG in urllib3's request
line; orchestrator/logredact.py redacts query values, and the last test shows it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
import secrets
import sys
from collections.abc import Iterator
from typing import Any, TextIO

import pytest
import requests
from django.contrib.auth.models import User

from actions.signing import generate_secret
from orchestrator.accounts.services import api_token_issue
from tests.integration.conftest import LOG_DIRS
from tests.integration.processes import CeleryCluster, RedisServer, wait_until
from tests.support.receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 30  # for one HTTP call: keeps a hung server from hanging the suite, not a speed requirement


def secret(kind: str) -> str:
    """Random, and long enough that it cannot turn up in a log by chance."""
    return f"{kind}-{secrets.token_urlsafe(24)}"


class DebugCluster(CeleryCluster):
    """The integration tier's worker and beat, logging at DEBUG: their `-l info` would set the root
    logger's level over LOG_LEVEL (Celery configures the root logger after Django does)."""

    def _start(self, name: str, command: list[str], *, ready_marker: str) -> Any:
        level = command.index("-l") + 1
        command = [*command[:level], "debug", *command[level + 1 :]]
        return super()._start(name, command, ready_marker=ready_marker)


@pytest.fixture(scope="module")
def debug_workers(
    _celery_cluster: CeleryCluster,
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
    pytestconfig: pytest.Config,
) -> Iterator[DebugCluster]:
    # One set of workers on the broker at a time; the `workers` fixture restarts the usual ones.
    _celery_cluster.stop()
    redis_server.start()
    cluster = DebugCluster({**_celery_cluster.env, "LOG_LEVEL": "DEBUG"}, tmp_path_factory.mktemp("debug"))
    pytestconfig.stash.setdefault(LOG_DIRS, []).append(cluster.directory)
    try:
        cluster.start_beat()
        cluster.start_worker()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def every_record(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog at DEBUG for every logger, including those that do not propagate to the root."""
    caplog.set_level(logging.DEBUG)
    quiet: list[logging.Logger] = []
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            if logger.level > logging.DEBUG:
                caplog.set_level(logging.DEBUG, logger=name)
            if not logger.propagate:
                logger.addHandler(caplog.handler)
                quiet.append(logger)
    yield caplog
    for logger in quiet:
        logger.removeHandler(caplog.handler)


@contextlib.contextmanager
def consoles_write_to(stream: TextIO) -> Iterator[None]:
    """The product's console handlers hold the stderr of when logging was configured, which under
    pytest is its session capture, not file descriptor 2: point them at ``stream`` for a while."""
    loggers = [logging.root, *logging.root.manager.loggerDict.values()]
    handlers = {
        h
        for logger in loggers
        if isinstance(logger, logging.Logger)
        for h in logger.handlers
        if type(h) is logging.StreamHandler
    }
    assert handlers, "no console handler: the product's logging configuration changed"
    previous = {handler: handler.setStream(stream) for handler in handlers}
    try:
        yield
    finally:
        for handler, old in previous.items():
            handler.setStream(old)


class Api:
    """The REST API over HTTP, as a client with a token uses it."""

    def __init__(self, http: requests.Session, base: str, token: str) -> None:
        self.http, self.base, self.auth = http, base, {"Authorization": f"Token {token}"}

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = self.http.request(method, self.base + path, json=body, headers=self.auth, timeout=TIMEOUT)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def finished_run(self, run_id: int) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            run: dict[str, Any] = self.call("GET", f"/api/runs/{run_id}/")
            return run if run["status"] in ("succeeded", "failed") else None

        return wait_until(finished, timeout=60, what=f"run {run_id} to finish", interval=0.2)


def github_signature(key: str, body: bytes) -> str:
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def workflow_with_steps(api: Api, url: str, auths: dict[str, dict[str, Any]], inbound: str = "") -> str:
    """A published workflow with one step per auth config, each calling ``url``/<its name>; returns
    its webhook URL. ``inbound``: the trigger's GitHub signing secret, if any."""
    workflow = api.call("POST", "/api/workflows/", {"name": "Logs"}, expect=201)
    base = f"/api/workflows/{workflow['id']}"
    api.call("PUT", f"{base}/trigger/", expect=201)
    if inbound:
        api.call("PUT", f"{base}/trigger/signature/", {"scheme": "github", "secrets": [inbound]})
    for name, auth in auths.items():
        config = {"method": "POST", "url": f"{url}/{name}", "body": {"step": name}, "auth": auth}
        api.call("POST", f"{base}/steps/", {"name": name, "type": "http_request", "config": config}, 201)
    api.call("POST", f"{base}/publish/")
    webhook_url: str = api.call("GET", f"{base}/trigger/")["webhook_url"]
    return webhook_url


def everything_logged(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str], cluster: DebugCluster
) -> dict[str, str]:
    return {
        "this process's log records": caplog.text,
        "this process's stdout and stderr": "\n".join(capfd.readouterr()),
        **{f"{log.name} (DEBUG)": log.read_text(errors="replace") for log in cluster.directory.glob("*.log")},
    }


def leaks(secret_values: dict[str, str], logged: dict[str, str]) -> list[str]:
    return [
        f"{what} in {where}"
        for what, v in secret_values.items()
        for where, text in logged.items()
        if v in text
    ]


def test_a_whole_flow_logs_no_secret(
    alice: User,
    receiver: Receiver,
    debug_workers: DebugCluster,
    public_base_url: str,
    http: requests.Session,
    every_record: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    token = api_token_issue(user=alice, replace=True)
    assert token is not None
    inbound, password, bearer, api_key = (secret(k) for k in ("inbound", "pw", "bearer", "key"))
    signing = generate_secret()
    auths: dict[str, dict[str, Any]] = {
        "basic": {"kind": "basic", "username": "svc", "password": password},
        "bearer": {"kind": "bearer", "token": bearer},
        "header-key": {"kind": "api_key", "name": "X-Api-Key", "value": api_key, "in": "header"},
        "signed": {"kind": "standard_webhooks", "secrets": [signing]},
    }
    api = Api(http, public_base_url, token)

    with consoles_write_to(sys.stderr):  # capfd's, now
        webhook_url = workflow_with_steps(api, receiver.url, auths, inbound)
        key = webhook_url.rsplit("/", 1)[1]
        signed = {"X-Hub-Signature-256": github_signature(inbound, b"")}
        accepted = http.post(webhook_url, headers=signed, timeout=TIMEOUT)
        assert accepted.status_code == 202, accepted.text
        run_id = accepted.json()["run_id"]
        assert api.finished_run(run_id)["status"] == "succeeded"
        wrong_key = http.post(webhook_url[: -len(key)] + secret("guess"), headers=signed, timeout=TIMEOUT)
        assert wrong_key.status_code == 404, wrong_key.text
        forged = {"X-Hub-Signature-256": github_signature(secret("forged"), b"")}
        wrong_signature = http.post(webhook_url, headers=forged, timeout=TIMEOUT)
        assert wrong_signature.status_code == 401, wrong_signature.text
        replay_id = api.call("POST", f"/api/runs/{run_id}/replay/", expect=202)["run_id"]
        assert api.finished_run(replay_id)["status"] == "succeeded"

    # The secrets were really used: the receiver got every credential, so they were there to leak.
    assert receiver.wait_for(2 * len(auths))
    basic = base64.b64encode(f"svc:{password}".encode()).decode()
    seen = " ".join(str(r.headers) for r in receiver.requests)
    for value in (f"Basic {basic}", f"Bearer {bearer}", api_key, "webhook-signature"):
        assert value in seen
    logged = everything_logged(every_record, capfd, debug_workers)
    # The controls: each capture holds what this flow must have logged, so it captured something.
    records, console = logged["this process's log records"], logged["this process's stdout and stderr"]
    assert "Not Found: /hooks/" in records and "Unauthorized: /hooks/" in records
    assert "Not Found: /hooks/" in console and "Unauthorized: /hooks/" in console
    worker = logged["worker1.log (DEBUG)"]
    for run in (run_id, replay_id):  # Celery's DEBUG line for each run's task, then its outcome
        assert "'task': 'workflows.execute_run'" in worker and f"'argsrepr': '({run},)'" in worker
    assert " succeeded in " in worker
    assert " DEBUG " in worker and " DEBUG " in logged["beat.log (DEBUG)"]  # the level took effect
    assert "workflows.sweep_stale_runs" in logged["beat.log (DEBUG)"]

    secret_values = {
        "webhook key": key,
        "API token": token,
        "inbound signing secret": inbound,
        "basic auth password": password,
        "basic auth header": basic,
        "bearer token": bearer,
        "API key": api_key,
        "outbound signing secret": signing.removeprefix("whsec_"),
    }
    found = leaks(secret_values, logged)
    assert found == [], found


def test_an_api_key_sent_in_the_query_is_not_logged(
    alice: User,
    receiver: Receiver,
    debug_workers: DebugCluster,
    public_base_url: str,
    http: requests.Session,
    every_record: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    token = api_token_issue(user=alice, replace=True)
    assert token is not None
    api_key = secret("query-key")
    auths = {"query-key": {"kind": "api_key", "name": "api_key", "value": api_key, "in": "query"}}
    with consoles_write_to(sys.stderr):
        webhook_url = workflow_with_steps(Api(http, public_base_url, token), receiver.url, auths)
        accepted = http.post(webhook_url, timeout=TIMEOUT)
        assert accepted.status_code == 202, accepted.text
        run = Api(http, public_base_url, token).finished_run(accepted.json()["run_id"])
        assert run["status"] == "succeeded", run
    assert receiver.wait_for(1) and api_key in receiver.requests[0].path
    logged = everything_logged(every_record, capfd, debug_workers)
    assert "Task workflows.execute_run" in logged["worker1.log (DEBUG)"]  # the control
    found = leaks({"API key in the query": api_key}, logged)
    assert found == [], found
