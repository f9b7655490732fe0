"""Test settings: the product's settings, with the session's own var/ (SQLite, broker folders) so
that tests never touch a developer's data or a running `make run` worker's queue."""

import os
import tempfile

os.environ.setdefault("ORCHESTRATOR_VAR_DIR", tempfile.mkdtemp(prefix="orchestrator-test-"))

from orchestrator.settings import *  # noqa: F403

# Tests send their requests to real servers on loopback; the SSRF guard's own tests close it again.
OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
