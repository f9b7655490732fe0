"""Inbound signatures: each scheme checked against signatures made here, from each provider's public
documentation, sharing no code with triggers/inbound_signatures.py or actions/signing.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actions.auth import MASK
from actions.registry import ConfigError
from orchestrator.crypto import decrypt
from triggers import inbound_signatures as sigs

NOW = 1_700_000_000
BODY = b'{"action": "opened", "name": "Zo\xc3\xab"}'
SW_SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
SW_OTHER = "whsec_" + base64.b64encode(b"o" * 32).decode()

Headers = dict[str, str]


def _hmac(secret: str | bytes, message: bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, message, hashlib.sha256).digest()


def github(secret: str, body: bytes, ts: int) -> Headers:
    return {"x-hub-signature-256": "sha256=" + _hmac(secret, body).hex()}


def stripe(secret: str, body: bytes, ts: int) -> Headers:
    return {"stripe-signature": f"t={ts},v1={_hmac(secret, f'{ts}.'.encode() + body).hex()}"}


def standard_webhooks(secret: str, body: bytes, ts: int) -> Headers:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signature = base64.b64encode(_hmac(key, f"msg_1.{ts}.".encode() + body)).decode()
    return {"webhook-id": "msg_1", "webhook-timestamp": str(ts), "webhook-signature": "v1," + signature}


def slack(secret: str, body: bytes, ts: int) -> Headers:
    signature = "v0=" + _hmac(secret, f"v0:{ts}:".encode() + body).hex()
    return {"x-slack-signature": signature, "x-slack-request-timestamp": str(ts)}


def shopify(secret: str, body: bytes, ts: int) -> Headers:
    return {"x-shopify-hmac-sha256": base64.b64encode(_hmac(secret, body)).decode()}


def hmac_sha256(secret: str, body: bytes, ts: int) -> Headers:
    return {"x-signature": "sha256=" + _hmac(secret, body).hex().upper()}


SIGNERS: dict[str, Callable[[str, bytes, int], Headers]] = {
    signer.__name__: signer for signer in (github, stripe, standard_webhooks, slack, shopify, hmac_sha256)
}
TIMED = ["stripe", "standard_webhooks", "slack"]
SECRET = dict.fromkeys(SIGNERS, "shared-secret") | {"stripe": "whsec_stripe1", "standard_webhooks": SW_SECRET}
OTHER = dict.fromkeys(SIGNERS, "other-secret") | {"stripe": "whsec_stripe2", "standard_webhooks": SW_OTHER}
GENERIC_FIELDS = {"header": "X-Signature", "prefix": "sha256="}


def config(scheme: str, *secrets: str) -> dict[str, object]:
    extra = GENERIC_FIELDS if scheme == "hmac_sha256" else {}
    chosen = list(secrets) or [SECRET[scheme]]
    return sigs.validate_signature_config({"scheme": scheme, "secrets": chosen, **extra})


def verify(scheme: str, headers: Headers, body: bytes = BODY, now: float = NOW) -> sigs.SignatureResult:
    return sigs.verify_signature(config(scheme), headers, body, now=now)


@pytest.mark.parametrize("scheme", SIGNERS)
def test_a_request_signed_as_the_provider_documents_verifies(scheme: str) -> None:
    signed = SIGNERS[scheme](SECRET[scheme], BODY, NOW)
    assert verify(scheme, signed) == sigs.SignatureResult(True, "signature matches")


@pytest.mark.parametrize("scheme", SIGNERS)
def test_a_tampered_body_does_not_match(scheme: str) -> None:
    signed = SIGNERS[scheme](SECRET[scheme], BODY, NOW)
    assert verify(scheme, signed, body=BODY + b" ") == sigs.SignatureResult(False, "signature does not match")


@pytest.mark.parametrize("scheme", SIGNERS)
def test_a_request_signed_with_another_secret_does_not_match(scheme: str) -> None:
    signed = SIGNERS[scheme](OTHER[scheme], BODY, NOW)
    assert verify(scheme, signed).reason == "signature does not match"


@pytest.mark.parametrize("scheme", SIGNERS)
def test_during_rotation_a_request_signed_with_the_second_secret_verifies(scheme: str) -> None:
    first, second = SECRET[scheme], OTHER[scheme]
    rotating = config(scheme, first, second)
    for secret in (first, second):
        assert sigs.verify_signature(rotating, SIGNERS[scheme](secret, BODY, NOW), BODY, now=NOW).ok


@pytest.mark.parametrize(
    ("scheme", "dropped", "shown"),
    [
        ("github", "x-hub-signature-256", "X-Hub-Signature-256"),
        ("stripe", "stripe-signature", "Stripe-Signature"),
        ("standard_webhooks", "webhook-id", "webhook-id"),
        ("standard_webhooks", "webhook-signature", "webhook-signature"),
        ("slack", "x-slack-request-timestamp", "X-Slack-Request-Timestamp"),
        ("slack", "x-slack-signature", "X-Slack-Signature"),
        ("shopify", "x-shopify-hmac-sha256", "X-Shopify-Hmac-Sha256"),
        ("hmac_sha256", "x-signature", "X-Signature"),
    ],
)
def test_a_missing_header_is_named_in_the_reason(scheme: str, dropped: str, shown: str) -> None:
    signed = SIGNERS[scheme](SECRET[scheme], BODY, NOW)
    del signed[dropped]
    assert verify(scheme, signed) == sigs.SignatureResult(False, f"missing header {shown}")


@pytest.mark.parametrize("scheme", TIMED)
@pytest.mark.parametrize(("skew", "words"), [(-301, "301 seconds old"), (301, "301 seconds in the future")])
def test_a_signed_timestamp_beyond_5_minutes_either_way_is_refused(
    scheme: str, skew: int, words: str
) -> None:
    result = verify(scheme, SIGNERS[scheme](SECRET[scheme], BODY, NOW + skew))
    assert result == sigs.SignatureResult(False, f"timestamp outside the 5-minute tolerance ({words})")
    at_the_edge = NOW + (300 if skew > 0 else -300)
    assert verify(scheme, SIGNERS[scheme](SECRET[scheme], BODY, at_the_edge)).ok


@pytest.mark.parametrize(
    ("scheme", "header", "value", "reason"),
    [
        ("github", "x-hub-signature-256", "sha1=" + "0" * 40, 'not "sha256=" followed by 64 hex digits'),
        ("github", "x-hub-signature-256", "sha256=" + "g" * 64, 'not "sha256=" followed by 64 hex digits'),
        ("github", "x-hub-signature-256", "sha256=" + "0" * 5000, "longer than 4096 characters"),
        ("github", "x-hub-signature-256", "sha256=é", "is not ASCII text"),
        ("shopify", "x-shopify-hmac-sha256", "not base64!", "is not 44 characters of base64"),
        ("stripe", "stripe-signature", "v1=" + "0" * 64, "does not hold exactly one t=<timestamp>"),
        ("stripe", "stripe-signature", f"t={NOW},t={NOW},v1=" + "0" * 64, "exactly one t=<timestamp>"),
        ("stripe", "stripe-signature", "t=soon,v1=" + "0" * 64, "t in header Stripe-Signature is not"),
        ("stripe", "stripe-signature", f"t={NOW},v1=zz", "has no v1=<64 hex digits> signature"),
        ("slack", "x-slack-request-timestamp", "1_700_000_000", "is not a Unix timestamp"),
        ("slack", "x-slack-request-timestamp", "²", "is not ASCII text"),
        ("slack", "x-slack-request-timestamp", "9" * 5000, "longer than 4096 characters"),
        ("standard_webhooks", "webhook-timestamp", "-1", "is not a Unix timestamp"),
        ("standard_webhooks", "webhook-signature", "v2,abc", "has no v1,<base64> signature"),
    ],
)
def test_a_malformed_header_gives_a_reason_rather_than_an_error(
    scheme: str, header: str, value: str, reason: str
) -> None:
    signed = SIGNERS[scheme](SECRET[scheme], BODY, NOW) | {header: value}
    result = verify(scheme, signed)
    assert not result.ok and reason in result.reason


def test_the_standard_webhooks_published_example_verifies() -> None:
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    example = config("standard_webhooks", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    assert sigs.verify_signature(example, headers, b'{"test": 2432232314}', now=1614265330).ok
    assert not sigs.verify_signature(example, headers, b'{"test": 2432232315}', now=1614265330).ok


def test_the_github_published_example_verifies() -> None:
    signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    example = config("github", "It's a Secret to Everybody")
    assert sigs.verify_signature(example, {"x-hub-signature-256": signature}, b"Hello, World!").ok


def test_the_slack_published_example_verifies() -> None:
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlg"
        b"cZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    headers = {
        "x-slack-request-timestamp": "1531420618",
        "x-slack-signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
    }
    example = config("slack", "8f742231b10e8888abcd99yyyzzz85a5")
    assert sigs.verify_signature(example, headers, body, now=1531420618).ok


def test_stripe_accepts_any_of_several_v1_signatures_and_ignores_v0() -> None:
    good = stripe(SECRET["stripe"], BODY, NOW)["stripe-signature"].split(",")[1]
    header = f"t={NOW}, v1={'0' * 64}, {good}, v0={'1' * 64}"
    assert verify("stripe", {"stripe-signature": header}).ok
    only_v0 = f"t={NOW},{good.replace('v1=', 'v0=')}"
    assert verify("stripe", {"stripe-signature": only_v0}).reason.endswith("no v1=<64 hex digits> signature")


def test_the_generic_scheme_reads_its_configured_header_encoding_and_prefix() -> None:
    clean = sigs.validate_signature_config(
        {"scheme": "hmac_sha256", "secrets": ["s"], "header": "X-Sig", "encoding": "base64"}
    )
    assert clean["prefix"] == ""
    headers = {"x-sig": base64.b64encode(_hmac("s", BODY)).decode()}
    assert sigs.verify_signature(clean, headers, BODY).ok
    assert not sigs.verify_signature(clean, {"x-sig": _hmac("s", BODY).hex()}, BODY).ok


def test_reasons_never_show_the_secret_or_the_expected_signature() -> None:
    expected = _hmac("shared-secret", BODY)
    for headers in ({"x-hub-signature-256": "sha256=" + "0" * 64}, {"x-hub-signature-256": "junk"}):
        reason = verify("github", headers).reason
        assert "shared-secret" not in reason and expected.hex() not in reason


def test_no_scheme_means_no_check_and_an_unknown_scheme_fails_closed() -> None:
    assert sigs.verify_signature(sigs.validate_signature_config(None), {}, BODY).ok
    refused = sigs.verify_signature({"scheme": "gitlab", "secrets": ["s"]}, {}, BODY)
    assert refused == sigs.SignatureResult(False, "unknown signature scheme 'gitlab'")


def test_the_ui_choices_come_from_the_scheme_table() -> None:
    assert [name for name, _ in sigs.scheme_choices()] == list(sigs.SCHEMES)
    assert dict(sigs.scheme_choices())["github"] == "GitHub"


@pytest.mark.parametrize(
    ("given_config", "problems"),
    [
        ("github", {"signature": "must be an object with a scheme"}),
        ({"scheme": "gitlab"}, {"signature.scheme": "must be one of"}),
        ({"scheme": "github"}, {"signature.secrets": "must be a list of 1 to 5"}),
        (
            {"scheme": "github", "secret": "s"},
            {"signature.secret": 'send "secrets", a list', "signature.secrets": "must be a list"},
        ),
        ({"scheme": "github", "secrets": ["s"] * 6}, {"signature.secrets": "1 to 5"}),
        ({"scheme": "github", "secrets": ["ok", " s "]}, {"signature.secrets.1": "spaces"}),
        ({"scheme": "github", "secrets": ["a\nb"]}, {"signature.secrets.0": "line breaks"}),
        ({"scheme": "stripe", "secrets": ["sk_live_1"]}, {"signature.secrets.0": 'starts with "whsec_"'}),
        ({"scheme": "standard_webhooks", "secrets": ["abc"]}, {"signature.secrets.0": "whsec_"}),
        ({"scheme": "slack", "secrets": [MASK + "1234abcd"]}, {"signature.secrets": "is masked"}),
        (
            {"scheme": "hmac_sha256", "secrets": ["s"], "header": "X Sig", "encoding": "hex2"},
            {"signature.header": "header name", "signature.encoding": '"hex" or "base64"'},
        ),
        (
            {"scheme": "hmac_sha256", "secrets": ["s"], "header": "X-Sig", "prefix": "sha 256="},
            {"signature.prefix": "visible ASCII"},
        ),
    ],
)
def test_invalid_configs_are_refused_with_field_paths(given_config: object, problems: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as refused:
        sigs.validate_signature_config(given_config)
    assert set(refused.value.fields) == set(problems)
    for path, fragment in problems.items():
        assert fragment in refused.value.fields[path]


def test_the_api_shows_secrets_only_as_fingerprints() -> None:
    masked = sigs.mask_signature_config(config("github", "shared-secret"))
    assert masked["set"] == {"secrets": True} and "shared-secret" not in str(masked)
    assert masked["secrets"][0].startswith(MASK) and set(masked) - {"set"} <= {"scheme", *sigs.SECRET_FIELDS}


def test_a_masked_secret_sent_back_keeps_its_stored_value_and_a_new_scheme_keeps_none() -> None:
    stored = config("github", "old-secret")
    (old_shown,) = sigs.mask_signature_config(stored)["secrets"]
    rotating = sigs.merge_signature_config(stored, {"scheme": "github", "secrets": [old_shown, "new"]})
    assert rotating["secrets"] == ["old-secret", "new"]
    assert sigs.merge_signature_config(stored, {"scheme": "github"})["secrets"] == ["old-secret"]
    assert "secrets" not in sigs.merge_signature_config(stored, {"scheme": "shopify"})


def test_secrets_are_encrypted_at_rest_and_decrypt_back() -> None:
    clean = config("github", "one", "two")
    sealed = sigs.encrypt_signature_config(clean)
    assert "one" not in sealed["secrets"] and [decrypt(s) for s in sealed["secrets"]] == ["one", "two"]
    assert sigs.decrypt_signature_config(sealed) == clean
    assert sigs.encrypt_signature_config({"scheme": "none"}) == {"scheme": "none"}


HEADER_NAMES = sorted({name for signer in SIGNERS.values() for name in signer(SW_SECRET, b"", 0)})
PREFIXES = ["", "sha256=", "v0=", "v1,", "t=1700000000,v1=", "1700000000"]
header_values = st.builds(lambda p, t: p + t, st.sampled_from(PREFIXES), st.text(max_size=80))


@settings(max_examples=300, deadline=None)
@given(
    scheme=st.sampled_from(list(SIGNERS)),
    headers=st.dictionaries(st.sampled_from(HEADER_NAMES) | st.text(max_size=20), header_values),
    body=st.binary(max_size=200),
    now=st.floats(min_value=0, max_value=4e9) | st.integers(min_value=-(10**12), max_value=10**12),
)
def test_verify_signature_never_raises_on_arbitrary_headers_and_bodies(
    scheme: str, headers: Headers, body: bytes, now: float
) -> None:
    result = sigs.verify_signature(config(scheme), headers, body, now=now)
    assert isinstance(result.reason, str) and result.reason


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["scheme", "secrets", "secret", "header", "encoding", "prefix", "set"]),
        st.sampled_from(list(sigs.SCHEMES)) | st.text() | st.lists(st.text()) | st.integers() | st.none(),
    )
)
def test_validation_refuses_arbitrary_configs_only_with_config_errors(
    given_config: dict[str, object],
) -> None:
    try:
        sigs.validate_signature_config(given_config)
    except ConfigError as refused:
        assert all(path.startswith("signature") for path in refused.fields)
