"""Orchestrator settings: every knob comes from the environment with a safe default.

With nothing set, the product runs on embedded defaults: SQLite and a filesystem Celery broker
under ``var/``. ``DATABASE_URL`` and ``CELERY_BROKER_URL`` switch to PostgreSQL and Redis.
The README lists every variable.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from orchestrator.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ORCHESTRATOR_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
# The default key is for local use only; production must set SECRET_KEY (check --deploy says so).
SECRET_KEY = env_str("SECRET_KEY", "dev-only-insecure-key-change-me-in-production-0123456789abcdef")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])

# Base of every webhook URL shown to users, e.g. https://hooks.example.com
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

# Keys that encrypt secrets at rest (Fernet, comma separated, first one encrypts, all decrypt).
# When empty, one key is derived from SECRET_KEY so that local use needs no setup.
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "orchestrator.accounts",
    "workflows",
    "triggers",
    "actions",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "orchestrator.unavailable.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "orchestrator.urls"
WSGI_APPLICATION = "orchestrator.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'orchestrator.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The same backend, with a health check that costs no round trip (orchestrator/postgresql/base.py).
    DATABASES["default"]["ENGINE"] = "orchestrator.postgresql"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, the worker and beat share one SQLite file without "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", "timeout": 20}
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 0
elif env_bool("DATABASE_PREPARED_STATEMENTS", True):
    # Parameters bound by the server, and statements prepared after their 5th use on a connection:
    # the receive path's lookup then costs PostgreSQL 0.05 ms instead of 0.19 ms (no re-planning), and
    # the client no longer quotes bodies into SQL text. Turn off behind a pooler that cannot keep
    # prepared statements (PgBouncer in transaction mode before 1.21).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"server_side_binding": True, "prepare_threshold": 5}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"

LOGIN_URL = "/admin/login/"

# --- Webhook intake -------------------------------------------------------------------------------
WEBHOOK_MAX_BODY_BYTES = env_int("WEBHOOK_MAX_BODY_BYTES", 1024 * 1024, minimum=1)
WEBHOOK_MAX_DEPTH = env_int("WEBHOOK_MAX_DEPTH", 64, minimum=1)
WEBHOOK_MAX_KEYS = env_int("WEBHOOK_MAX_KEYS", 10_000, minimum=1)
WEBHOOK_MAX_REPORTED_ERRORS = env_int("WEBHOOK_MAX_REPORTED_ERRORS", 20, minimum=1)
TRIGGER_LISTEN_SECONDS = env_int("TRIGGER_LISTEN_SECONDS", 300, minimum=1)
# Opt-in, PostgreSQL only: a 202 no longer waits for its delivery to reach the disk. If the PostgreSQL
# server crashes, accepted webhooks of its last ~0.6 s (3 x wal_writer_delay) are lost, though their
# senders were answered 202; the database stays consistent. README, "Faster, less durable".
WEBHOOK_ASYNC_COMMIT = env_bool("WEBHOOK_ASYNC_COMMIT", False)
# Keep Django's own limit in step with ours so the two never disagree about what is too large.
DATA_UPLOAD_MAX_MEMORY_SIZE = WEBHOOK_MAX_BODY_BYTES

# --- Run engine -----------------------------------------------------------------------------------
# A queued run not picked up after this long is sent to the broker again (the broker may have lost it).
RUN_REDISPATCH_AFTER_SECONDS = env_float("RUN_REDISPATCH_AFTER_SECONDS", 30, minimum=0.1)
# A running run holds a lease of (step timeout + grace); a dead worker's run is taken over after it.
RUN_LEASE_GRACE_SECONDS = env_float("RUN_LEASE_GRACE_SECONDS", 30, minimum=0.1)
# How often beat sweeps for stale runs.
RUN_SWEEP_INTERVAL_SECONDS = env_float("RUN_SWEEP_INTERVAL_SECONDS", 10, minimum=0.1)
RUN_SWEEP_BATCH_SIZE = env_int("RUN_SWEEP_BATCH_SIZE", 500, minimum=1)
# A run taken over this many times is failed instead of retried forever (a poison run).
RUN_MAX_CLAIMS = env_int("RUN_MAX_CLAIMS", 5, minimum=1)

# --- Outgoing HTTP --------------------------------------------------------------------------------
HTTP_ACTION_DEFAULT_TIMEOUT_SECONDS = env_float("HTTP_ACTION_DEFAULT_TIMEOUT_SECONDS", 10, minimum=0.1)
HTTP_ACTION_MAX_TIMEOUT_SECONDS = env_float("HTTP_ACTION_MAX_TIMEOUT_SECONDS", 60, minimum=0.1)
HTTP_ACTION_MAX_RESPONSE_BYTES = env_int("HTTP_ACTION_MAX_RESPONSE_BYTES", 1024 * 1024, minimum=1)
HTTP_ACTION_STORED_BODY_BYTES = env_int("HTTP_ACTION_STORED_BODY_BYTES", 20 * 1024, minimum=0)
# Networks outgoing requests may reach although the SSRF guard refuses them by default (loopback,
# private ranges...), as CIDRs. Empty in production; `make run` opens loopback for its demo.
OUTBOUND_ALLOWED_NETWORKS = env_list("OUTBOUND_ALLOWED_NETWORKS", [])
HTTP_USER_AGENT = env_str("HTTP_USER_AGENT", "Orchestrator-Webhooks/0.1")

# --- Retention ---------------------------------------------------------------------------------------
# Deliveries (with their runs, step results and attempts) older than this are purged by beat, in
# batches small enough that the receive path never waits on a long delete. 0 keeps everything.
RETENTION_DAYS = env_int("RETENTION_DAYS", 30, minimum=0)
RETENTION_BATCH_SIZE = env_int("RETENTION_BATCH_SIZE", 1000, minimum=1)
RETENTION_INTERVAL_SECONDS = env_float("RETENTION_INTERVAL_SECONDS", 600, minimum=1)

# --- Celery ---------------------------------------------------------------------------------------
_broker_dir = VAR_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://localhost//")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int("CELERY_WORKER_PREFETCH_MULTIPLIER", 1, minimum=1)
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing happens after the commit on the request path: fail fast and let the sweeper re-send,
# rather than hold a sender's request while the broker is down.
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("CELERY_BROKER_CONNECTION_TIMEOUT", 2, minimum=0.1)
# A worker must outlive any broker outage (the default gives up after 100 retries, ~45 minutes), and a
# broker blip must not cancel steps in flight: their runs are safe in the database either way.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's Django fixup closes the database connection before and after every task unless this is
# set; workflows/tasks.py closes old or broken ones instead, as Django does around a request.
CELERY_DB_REUSE_MAX = 10**9

# --- REST framework -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "orchestrator.accounts.authentication.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "orchestrator.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "orchestrator.pagination.NewestFirstPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "orchestrator.api_errors.exception_handler",
    # ASCII JSON: a string with an unpaired surrogate (valid in JSON input, so it can come back in
    # an echoed error or a stored sample) is written as a \udXXX escape instead of failing to encode.
    "UNICODE_JSON": False,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# OpenAPI 3 schema of the REST API, served at /api/schema/ (drf-spectacular).
SPECTACULAR_SETTINGS = {
    "TITLE": "Orchestrator API",
    "DESCRIPTION": "Webhook-triggered workflows: workflows, their webhook trigger, steps, publishing, "
    "runs and deliveries. Authenticate with `Authorization: Token <token>` (or `Bearer`).",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema describes endpoints, not data: anyone may read it (it holds no secrets).
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "COMPONENT_SPLIT_REQUEST": True,
    # Three models have a "status" with choices of their own: name each enum after its model's.
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "workflows.models.RunStatus",
        "StepStatusEnum": "workflows.models.StepStatus",
        "AttemptStatusEnum": "workflows.models.AttemptStatus",
    },
}

# --- Security (production hardening is switched on by environment) ---------------------------------
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"redact_keys": {"()": "orchestrator.logredact.RedactWebhookKeys"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_keys"]}
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Django gives its dev server's request log a handler of its own; route it through ours so
        # the webhook key in each logged path is redacted.
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}

# Benchmark-only endpoints (a bare DRF view: the framework's ceiling on this machine). Off in
# production; `make bench` turns them on and its report says so.
BENCH_ENDPOINTS = env_bool("BENCH_ENDPOINTS", False)

# --- Rate limits and fairness ----------------------------------------------------------------------
# Requests a minute one webhook trigger accepts, unless the trigger sets its own; 0 is unlimited.
# Counted as a token bucket: a burst of a whole minute's worth, then the steady rate.
WEBHOOK_RATE_LIMIT_PER_MINUTE = env_int("WEBHOOK_RATE_LIMIT_PER_MINUTE", 6000, minimum=0)
_broker_is_redis = CELERY_BROKER_URL.startswith(("redis://", "rediss://"))
# Where every web process counts, so the limit holds across them: by default the broker's Redis.
# Empty (the default with the filesystem broker of `make run`): each process counts in its own memory.
RATE_LIMIT_REDIS_URL = env_str("RATE_LIMIT_REDIS_URL", CELERY_BROKER_URL if _broker_is_redis else "")
# Runs are spread over this many Celery queues by workflow (workflows/queues.py), so a flood of one
# workflow cannot hold up the others. Web processes and workers must use the same number, so it does
# not depend on the broker. (The filesystem broker of `make run` lists its folder once per queue it
# polls: with a backlog of 2,000 runs it drains at 14.7 ms a message with 8 shards, 1.7 ms with 1.)
RUN_QUEUE_SHARDS = env_int("RUN_QUEUE_SHARDS", 8, minimum=1)
