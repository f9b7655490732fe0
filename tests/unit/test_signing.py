"""Standard Webhooks signatures: the spec's own example, an independent check, rotation and verification."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from actions import signing

# The example published with the Standard Webhooks specification.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def independent_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Written from the spec's text, sharing no code with actions/signing.py."""
    key = base64.b64decode(secret.split("_", 1)[1])
    content = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def test_the_spec_example_signs_to_the_published_signature() -> None:
    assert signing.sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_the_independent_implementation_agrees_with_the_spec_example() -> None:
    assert independent_signature(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


@pytest.mark.parametrize("body", [b"", b"{}", '{"name": "Zoë"}'.encode(), bytes(range(256))])
def test_signatures_agree_with_the_independent_implementation(body: bytes) -> None:
    secret = signing.generate_secret()
    expected = independent_signature(secret, "msg_1", 1700000000, body)
    assert signing.sign(secret, "msg_1", 1700000000, body) == expected


def test_the_headers_carry_id_timestamp_and_signature() -> None:
    headers = signing.signature_headers([SPEC_SECRET], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert headers == {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": SPEC_SIGNATURE,
    }


def test_during_rotation_every_secret_signs_and_each_verifies() -> None:
    old, new = SPEC_SECRET, signing.generate_secret()
    headers = signing.signature_headers([old, new], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    first, second = headers["webhook-signature"].split(" ")
    assert first == SPEC_SIGNATURE
    assert second == independent_signature(new, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    for secret in (old, new):
        assert signing.verify(secret, headers, SPEC_BODY, now=SPEC_TIMESTAMP)
    assert not signing.verify(signing.generate_secret(), headers, SPEC_BODY, now=SPEC_TIMESTAMP)


def test_verify_accepts_the_spec_example_with_any_header_case() -> None:
    headers = {
        "Webhook-Id": SPEC_ID,
        "Webhook-Timestamp": str(SPEC_TIMESTAMP),
        "Webhook-Signature": SPEC_SIGNATURE,
    }
    assert signing.verify(SPEC_SECRET, headers, SPEC_BODY, now=SPEC_TIMESTAMP + 10)


def test_verify_refuses_a_changed_body_id_or_signature() -> None:
    headers = signing.signature_headers([SPEC_SECRET], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert not signing.verify(SPEC_SECRET, headers, SPEC_BODY + b" ", now=SPEC_TIMESTAMP)
    assert not signing.verify(
        SPEC_SECRET, {**headers, "webhook-id": "msg_other"}, SPEC_BODY, now=SPEC_TIMESTAMP
    )
    for forged in ("", "v1,AAAA", "v2," + SPEC_SIGNATURE[3:], SPEC_SIGNATURE[3:]):
        assert not signing.verify(
            SPEC_SECRET, {**headers, "webhook-signature": forged}, SPEC_BODY, now=SPEC_TIMESTAMP
        )


@pytest.mark.parametrize(
    ("offset", "accepted"), [(0, True), (300, True), (-300, True), (301, False), (-301, False)]
)
def test_verify_allows_five_minutes_of_clock_difference_either_way(offset: int, accepted: bool) -> None:
    headers = signing.signature_headers([SPEC_SECRET], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert signing.verify(SPEC_SECRET, headers, SPEC_BODY, now=SPEC_TIMESTAMP + offset) is accepted


def test_verify_refuses_missing_or_malformed_headers() -> None:
    headers = signing.signature_headers([SPEC_SECRET], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    for name in headers:
        partial = {k: v for k, v in headers.items() if k != name}
        assert not signing.verify(SPEC_SECRET, partial, SPEC_BODY, now=SPEC_TIMESTAMP)
    bad_time = {**headers, "webhook-timestamp": "1614265330.5"}
    assert not signing.verify(SPEC_SECRET, bad_time, SPEC_BODY, now=SPEC_TIMESTAMP)


def test_generated_secrets_are_whsec_base64_of_32_random_bytes() -> None:
    first, second = signing.generate_secret(), signing.generate_secret()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32
    assert signing.secret_problem(first) is None


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 'starting with "whsec_"'),
        ("whsec_not base64!", "followed by base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "24 to 64 bytes"),
        (None, 'starting with "whsec_"'),
    ],
)
def test_a_malformed_secret_is_refused_with_a_reason(secret: object, problem: str) -> None:
    assert problem in (signing.secret_problem(secret) or "")
    if isinstance(secret, str):
        with pytest.raises(signing.SecretError, match="webhook secret"):
            signing.sign(secret, "msg_1", 1, b"")
