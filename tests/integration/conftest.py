"""The integration tier: real PostgreSQL, a private Redis, real Celery worker and beat processes and
real HTTP. Where PostgreSQL or redis-server is missing the whole tier is skipped and says why, unless
REQUIRE_SERVICES=1 (CI), where a missing service is an error: CI must never pass by skipping.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
import requests
from django.conf import settings as django_settings
from pytest_django.fixtures import Settings as SettingsWrapper
from pytest_django.live_server_helper import LiveServer

from tests.integration.bad_http import server_env
from tests.integration.gunicorn_server import GunicornServer
from tests.integration.processes import WORKER_SETTINGS, CeleryCluster, RedisServer, log_tail

HERE = Path(__file__).resolve().parent
# Directories whose *.log files are shown with a failing test.
LOG_DIRS = pytest.StashKey[list[Path]]()

# pytest-django's default live server host is "localhost", which may resolve to ::1 first.
os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")


def _redis_server_binary() -> str | None:
    return shutil.which("redis-server")


def _missing_services() -> list[str]:
    missing: list[str] = []
    db = django_settings.DATABASES["default"]
    if db["ENGINE"] not in ("django.db.backends.postgresql", "orchestrator.postgresql"):
        # Only the scheme: the URL may hold a password.
        scheme = urlsplit(os.environ.get("DATABASE_URL", "")).scheme or "unset"
        missing.append(f"DATABASE_URL is not PostgreSQL (scheme: {scheme}); run `make integration`")
    else:
        try:
            # The maintenance database: the test database does not exist yet, and Django uses it too.
            # (psycopg leaves out parameters that are None, as libpq defaults do for empty ones.)
            psycopg.connect(
                dbname="postgres",
                host=db["HOST"] or None,
                port=db["PORT"] or None,
                user=db["USER"] or None,
                password=db["PASSWORD"] or None,
                connect_timeout=3,
            ).close()
        except psycopg.Error as exc:
            where = f"{db['HOST'] or 'local socket'}:{db['PORT'] or 5432}"
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            missing.append(f"PostgreSQL at {where} is not reachable ({reason})")
    if _redis_server_binary() is None:
        missing.append("redis-server is not installed")
    return missing


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [item for item in items if HERE in item.path.parents]
    if not ours:
        return
    for item in ours:
        item.add_marker(pytest.mark.integration)
    missing = _missing_services()
    if not missing:
        return
    if os.environ.get("REQUIRE_SERVICES") == "1":
        raise pytest.UsageError(
            "REQUIRE_SERVICES=1 but the integration tier cannot run: " + "; ".join(missing)
        )
    skip = pytest.mark.skip(reason="integration tier skipped: " + "; ".join(missing))
    for item in ours:
        item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    # What the worker, beat and Redis said is usually the only way to see why a run never finished.
    if report.failed and HERE in item.path.parents:
        for directory in item.config.stash.get(LOG_DIRS, []):
            for log in sorted(directory.glob("*.log")):
                report.sections.append((f"{log.name} (last lines)", log_tail(log)))
    return report


def point_celery_at(url: str) -> None:
    """Make this process publish to ``url``, whatever it published to before."""
    from orchestrator.celery import app

    # Celery reads CELERY_BROKER_URL from the environment before its own configuration.
    os.environ["CELERY_BROKER_URL"] = url
    django_settings.CELERY_BROKER_URL = url
    # The transport options the settings module computes for a filesystem broker mean nothing here.
    django_settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    app.conf.broker_url  # noqa: B018  (finalizes the configuration, so what we set below sticks)
    app.conf.update(broker_url=url, broker_transport_options={})
    # A connection or producer pool made earlier would keep publishing to the old broker.
    old_pool = getattr(app, "_pool", None)
    if old_pool is not None:
        old_pool.force_close_all()
    app._pool = None  # type: ignore[attr-defined]
    amqp = vars(app).get("amqp")  # a cached property: only reset it if it was ever created
    if amqp is not None:
        amqp._producer_pool = None
    connection = app.connection_for_write()
    assert connection.as_uri(include_password=True) == url, f"Celery still publishes to {connection.as_uri()}"


@pytest.fixture(scope="session")
def redis_server(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[RedisServer]:
    binary = _redis_server_binary()
    assert binary is not None
    server = RedisServer(binary, tmp_path_factory.mktemp("redis"))
    pytestconfig.stash.setdefault(LOG_DIRS, []).append(server.directory)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def _publish_to_private_redis(redis_server: RedisServer) -> None:
    point_celery_at(redis_server.url)


@pytest.fixture(scope="session")
def _celery_cluster(
    django_db_setup: None,
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
    pytestconfig: pytest.Config,
) -> Iterator[CeleryCluster]:
    from django.db import connection

    # The test database exists now; the worker and beat must use it, not the one in DATABASE_URL.
    database_url = urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + connection.settings_dict["NAME"])
    directory = tmp_path_factory.mktemp("celery")
    env = {
        **os.environ,
        **WORKER_SETTINGS,
        "DATABASE_URL": database_url.geturl(),
        "CELERY_BROKER_URL": redis_server.url,
        "ORCHESTRATOR_VAR_DIR": str(directory / "var"),
        # The product's own settings, as deployed; tests.settings is for this process only.
        "DJANGO_SETTINGS_MODULE": "orchestrator.settings",
        "PYTHONUNBUFFERED": "1",
    }
    cluster = CeleryCluster(env, directory)
    pytestconfig.stash.setdefault(LOG_DIRS, []).append(directory)
    try:
        cluster.start_beat()
        cluster.start_worker()
        yield cluster
    finally:
        # Before pytest-django drops the test database, which refuses while anyone is connected.
        cluster.stop()


@pytest.fixture
def workers(_celery_cluster: CeleryCluster, redis_server: RedisServer) -> CeleryCluster:
    """Running worker(s) and beat; an earlier test that failed half-way may have stopped them."""
    redis_server.start()
    _celery_cluster.ensure_running()
    return _celery_cluster


@pytest.fixture(scope="module")
def server(
    django_db_setup: None, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GunicornServer]:
    """A real gunicorn in the production configuration: orchestrator/gunicorn_conf.py and nothing else.
    Stopped before pytest-django drops the test database, which refuses while anyone is connected."""
    directory = tmp_path_factory.mktemp("gunicorn")
    with GunicornServer(server_env(redis_server, directory), directory) as running:
        yield running


@pytest.fixture
def public_base_url(live_server: LiveServer, settings: SettingsWrapper) -> str:
    """Webhook URLs shown by the API point at the live server, so they can be called over HTTP."""
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server.url


class OneConnectionPerRequest(requests.Session):
    """A session that never reuses a connection.

    The live server keeps a database session per kept-alive connection, and a test database with
    sessions open cannot be dropped at the end, so every request asks for `Connection: close`. Django's
    threaded server then closes the socket after answering but does not echo the header, so urllib3
    would pool the connection and could send the next request down it just as the server closes it
    (RemoteDisconnected, a flaky failure). Dropping the pool after each request rules that out.
    """

    def __init__(self) -> None:
        super().__init__()
        # Proxies from the environment must never see test traffic: everything here stays on loopback.
        self.trust_env = False
        self.headers["Connection"] = "close"

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        try:
            return super().request(*args, **kwargs)
        finally:
            # The body is already read (no streaming here), so the pooled connection can go.
            self.close()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    session = OneConnectionPerRequest()
    yield session
    session.close()
