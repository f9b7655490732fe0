"""Auth kinds for outgoing requests: validation, what each adds to a request, and secrets kept write-only."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from actions import auth, signing
from actions.auth import MASK, OutgoingRequest
from actions.registry import ConfigError
from orchestrator.crypto import decrypt

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
REQUEST = OutgoingRequest(
    method="POST",
    url="https://hooks.example/in?x=1",
    headers={"Content-Type": "application/json"},
    body=b"{}",
)


def problems(config: Any) -> dict[str, str]:
    with pytest.raises(ConfigError) as invalid:
        auth.validate_auth(config)
    return invalid.value.fields


def test_every_kind_is_offered_as_a_choice() -> None:
    assert [name for name, _ in auth.auth_choices()] == [
        "none",
        "basic",
        "bearer",
        "api_key",
        "standard_webhooks",
    ]


def test_no_auth_config_means_none_and_changes_nothing() -> None:
    config = auth.validate_auth(None)
    assert auth.apply_auth(config, REQUEST) == REQUEST


def test_basic_sends_the_username_and_password() -> None:
    config = auth.validate_auth({"kind": "basic", "username": "alice", "password": "pä:ss"})
    sent = auth.apply_auth(config, REQUEST)
    assert sent.headers["Authorization"] == "Basic " + base64.b64encode("alice:pä:ss".encode()).decode()


def test_bearer_replaces_an_authorization_header_set_by_the_step() -> None:
    request = OutgoingRequest("GET", REQUEST.url, {"authorization": "old"}, b"")
    sent = auth.apply_auth(auth.validate_auth({"kind": "bearer", "token": "tok-1"}), request)
    assert sent.headers == {"Authorization": "Bearer tok-1"}


def test_an_api_key_goes_in_a_header_by_default() -> None:
    config = auth.validate_auth({"kind": "api_key", "name": "X-Api-Key", "value": "k1"})
    assert config["in"] == "header"
    assert auth.apply_auth(config, REQUEST).headers["X-Api-Key"] == "k1"


def test_an_api_key_in_the_query_is_encoded_and_keeps_the_existing_query() -> None:
    config = auth.validate_auth({"kind": "api_key", "name": "api key", "value": "a&b=c", "in": "query"})
    sent = auth.apply_auth(config, REQUEST)
    assert sent.url == "https://hooks.example/in?x=1&api%20key=a%26b%3Dc"
    plain = auth.apply_auth(config, OutgoingRequest("GET", "https://hooks.example/in", {}, b""))
    assert plain.url == "https://hooks.example/in?api%20key=a%26b%3Dc"


def test_standard_webhooks_signs_the_body_with_every_secret() -> None:
    other = signing.generate_secret()
    config = auth.validate_auth({"kind": "standard_webhooks", "secrets": [SECRET, other]})
    sent = auth.apply_auth(config, REQUEST, message_id="msg_1", timestamp=1700000000)
    assert sent.headers["webhook-id"] == "msg_1"
    assert sent.headers["webhook-timestamp"] == "1700000000"
    assert len(sent.headers["webhook-signature"].split(" ")) == 2
    for secret in (SECRET, other):
        assert signing.verify(secret, sent.headers, REQUEST.body, now=1700000000)


def test_standard_webhooks_makes_up_an_id_and_timestamp_when_none_is_given() -> None:
    config = auth.validate_auth({"kind": "standard_webhooks", "secrets": [SECRET]})
    sent = auth.apply_auth(config, REQUEST)
    assert sent.headers["webhook-id"].startswith("msg_")
    assert signing.verify(SECRET, sent.headers, REQUEST.body)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("bearer", {"auth": "must be an object with a kind"}),
        ({"kind": "oauth"}, {"auth.kind": "must be one of none, basic, bearer, api_key, standard_webhooks"}),
        (
            {"kind": "basic", "username": "a:b"},
            {"auth.username": "must not contain ':'", "auth.password": "is required"},
        ),
        ({"kind": "bearer", "token": "two words"}, {"auth.token": "must not contain spaces or line breaks"}),
        ({"kind": "bearer", "token": "t", "extra": 1}, {"auth.extra": "unknown field"}),
        (
            {"kind": "api_key", "name": "X Key", "value": "v\r\nX: 1"},
            {
                "auth.name": "must be a header name (letters, digits and -)",
                "auth.value": "must not contain line breaks",
            },
        ),
        (
            {"kind": "api_key", "name": "k", "value": "v", "in": "body"},
            {"auth.in": 'must be "header" or "query"'},
        ),
        (
            {"kind": "api_key", "name": "Host", "value": "v"},
            {"auth.name": "Host is set by the request itself"},
        ),
        (
            {"kind": "standard_webhooks", "secrets": []},
            {"auth.secrets": "must be a list of 1 to 5 secrets (generate one with the API)"},
        ),
        (
            {"kind": "standard_webhooks", "secrets": [SECRET, "nope"]},
            {"auth.secrets.1": 'must be a secret starting with "whsec_"'},
        ),
    ],
)
def test_invalid_configs_are_explained_field_by_field(config: Any, expected: dict[str, str]) -> None:
    assert problems(config) == expected


def test_a_masked_secret_cannot_be_saved_as_the_secret() -> None:
    assert problems({"kind": "bearer", "token": MASK}) == {
        "auth.token": "is masked: send the secret itself, or omit it to keep the stored one"
    }


def test_masking_shows_that_a_secret_is_set_but_never_any_of_it() -> None:
    config = {"kind": "basic", "username": "alice", "password": "hunter2-secret"}
    assert auth.mask_auth(config) == {
        "kind": "basic",
        "username": "alice",
        "password": MASK,
        "set": {"password": True},
    }
    assert auth.mask_auth({"kind": "none"}) == {"kind": "none", "set": {}}


def test_masked_secrets_in_a_list_carry_only_a_fingerprint() -> None:
    masked = auth.mask_auth({"kind": "standard_webhooks", "secrets": [SECRET]})
    (shown,) = masked["secrets"]
    assert shown.startswith(MASK) and len(shown) == len(MASK) + 8
    assert SECRET[6:12] not in shown


def test_an_update_that_omits_or_echoes_the_mask_keeps_the_stored_secret() -> None:
    stored = {"kind": "basic", "username": "alice", "password": "old-pass"}
    echoed = auth.mask_auth(stored) | {"username": "alice2"}
    assert auth.merge_auth(stored, echoed) == {"kind": "basic", "username": "alice2", "password": "old-pass"}
    assert auth.merge_auth(stored, {"kind": "basic", "username": "bob"})["password"] == "old-pass"
    assert auth.merge_auth(stored, {"kind": "basic", "username": "a", "password": "new"})["password"] == "new"


def test_changing_the_kind_keeps_no_stored_secret() -> None:
    stored = {"kind": "bearer", "token": "tok"}
    merged = auth.merge_auth(stored, {"kind": "api_key", "name": "X-Key", "value": MASK})
    assert problems(merged) == {
        "auth.value": "is masked: send the secret itself, or omit it to keep the stored one"
    }


def test_rotating_webhook_secrets_keeps_reorders_and_drops_by_fingerprint() -> None:
    old, new = SECRET, signing.generate_secret()
    stored = {"kind": "standard_webhooks", "secrets": [old]}
    (old_shown,) = auth.mask_auth(stored)["secrets"]
    rotating = auth.merge_auth(stored, {"kind": "standard_webhooks", "secrets": [old_shown, new]})
    assert rotating["secrets"] == [old, new]
    shown = auth.mask_auth(rotating)["secrets"]
    assert auth.merge_auth(rotating, {"kind": "standard_webhooks", "secrets": [shown[1]]})["secrets"] == [new]


def test_only_secret_fields_are_encrypted_at_rest_and_they_decrypt_back() -> None:
    for config in (
        {"kind": "basic", "username": "alice", "password": "pw"},
        {"kind": "api_key", "name": "X-Key", "value": "v", "in": "header"},
        {"kind": "standard_webhooks", "secrets": [SECRET, signing.generate_secret()]},
        {"kind": "none"},
    ):
        stored = auth.encrypt_auth(config)
        assert auth.decrypt_auth(stored) == config
        for field, value in config.items():
            secret = field in ("password", "value", "secrets")
            assert (stored[field] != value) is secret
    assert decrypt(auth.encrypt_auth({"kind": "bearer", "token": "t"})["token"]) == "t"


def test_secret_headers_are_named_for_redirect_stripping() -> None:
    assert auth.secret_header_names({"kind": "bearer", "token": "t"}) == {"authorization"}
    assert auth.secret_header_names({"kind": "api_key", "name": "X-Key", "value": "v", "in": "header"}) == {
        "x-key"
    }
    assert auth.secret_header_names({"kind": "api_key", "name": "k", "value": "v", "in": "query"}) == set()
