"""Coverage-guided fuzzing of the whole receive pipeline with atheris (libFuzzer). Run by hand, not in CI.

The same five triggers and the same invariants as tests/unit/test_receive_pipeline_fuzz.py (never a
5xx; JSON with a documented error code on every 4xx; every request to a real trigger logged as one
delivery; every 202 one queued run holding the body byte for byte; nothing accepted ever lost), but the
requests come from libFuzzer's mutations, guided by coverage of the product's own packages, in a fresh
SQLite database under a temporary directory. Hypothesis explores the shapes we thought of; this finds
the byte sequences we did not.

Install atheris next to the project's venv, not into it (binary wheels exist for CPython 3.11 on
x86-64 Linux; it is not a project dependency):

    .venv/bin/python -m pip install --target /tmp/atheris atheris
    PYTHONPATH=/tmp/atheris .venv/bin/python tests/fuzz/receive_atheris.py -atheris_runs=20000 /tmp/corpus

Every libFuzzer flag works (``-max_total_time=300``, ``-jobs=2``, ``-max_len=4096``...). A failing input
is written as ``crash-<sha1>`` in the working directory; replay it with the same command and its path
instead of the corpus directory. The printed request (``Sent(...)``) can be pasted into the unit test as
a hypothesis ``@example``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
# A database of its own: tests.settings puts the default SQLite file under ORCHESTRATOR_VAR_DIR.
os.environ.pop("DATABASE_URL", None)
os.environ["ORCHESTRATOR_VAR_DIR"] = tempfile.mkdtemp(prefix="orchestrator-atheris-")

import atheris  # noqa: E402  (after the environment is set: nothing of the project is imported yet)

# The product's packages are instrumented for coverage as they are imported; Django and the rest are not.
with atheris.instrument_imports(include=["triggers", "workflows", "orchestrator", "actions"]):
    import django

    django.setup()
    import triggers.dedupe
    import triggers.filters
    import triggers.intake
    import triggers.parsing
    import triggers.views  # noqa: F401

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from tests.support import receive_fuzz as fuzz  # noqa: E402
from tests.support import receive_fuzz_requests as fuzz_requests  # noqa: E402

CONTENT_TYPES: list[str | None] = [None, *fuzz_requests.JSONISH_TYPES, *fuzz_requests.OTHER_TYPES]
HEADER_NAMES = [*fuzz_requests.HEADER_NAMES, "X-Hub-Signature-256"]
TARGETS = ["valid", "valid", "valid", "valid", "valid/", "wrong_key", "unknown"]
TRANSPORTS = ["length", "length", "length", "chunked_dechunked", "chunked_raw"]
METHODS = ["POST", "POST", "POST", *fuzz_requests.OTHER_METHODS]


def pick(fdp: Any, options: list[Any]) -> Any:
    return options[fdp.ConsumeIntInRange(0, len(options) - 1)]


def header_text(fdp: Any, limit: int) -> str:
    """What a server hands over as a header value or query string: latin-1, no control characters."""
    raw = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, limit))
    return "".join(chr(b) for b in raw if b >= 0x20 and b != 0x7F)


def sent_from(data: bytes) -> fuzz_requests.Sent:
    fdp = atheris.FuzzedDataProvider(data)
    kind = pick(fdp, fuzz_requests.KINDS)
    content_type = pick(fdp, CONTENT_TYPES) if fdp.ConsumeBool() else header_text(fdp, 40)
    sent = fuzz_requests.Sent(
        kind=kind,
        target=pick(fdp, TARGETS),
        method=pick(fdp, METHODS),
        content_type=content_type,
        body=b"",
        query=header_text(fdp, 60).replace(" ", "").replace("#", ""),
        headers={pick(fdp, HEADER_NAMES): header_text(fdp, 40) for _ in range(fdp.ConsumeIntInRange(0, 3))},
        transport=pick(fdp, TRANSPORTS),
        wrong_key="wrong",
    )
    sign = kind == "signed" and fdp.ConsumeIntInRange(0, 3) > 0
    sent.body = fdp.ConsumeBytes(fdp.remaining_bytes())
    if sign:
        # Mostly correctly signed, so that the body gets past the signature check to the parser.
        digest = hmac.new(fuzz_requests.SECRET.encode(), sent.body, hashlib.sha256).hexdigest()
        sent.headers["X-Hub-Signature-256"] = "sha256=" + digest
        sent.signature = "valid"
    return sent


def main() -> None:
    call_command("migrate", verbosity=0)
    # One warning per 4xx would drown libFuzzer's output; a 500 is still logged (and is a crash anyway).
    logging.getLogger("django.request").setLevel(logging.ERROR)
    fuzz.apply_small_limits(settings)
    # The API's own checks (token, isolation) are covered elsewhere; a forced login builds the triggers.
    api = APIClient()
    api.force_authenticate(User.objects.create_user("fuzzer"))
    hooks = fuzz.build_hooks(api)
    client = Client()
    ledger = fuzz.Ledger()
    runs = 0

    def test_one_input(data: bytes) -> None:
        nonlocal runs
        runs += 1
        sent = sent_from(data)
        try:
            fuzz.send_and_check(client, hooks, ledger, sent, recheck_ledger=runs % 256 == 0)
        except BaseException:
            print(repr(sent), file=sys.stderr)
            raise

    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
