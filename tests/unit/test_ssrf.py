"""The SSRF guard's judgement of addresses and names. Pure: no socket is opened and DNS is a stand-in."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest

from actions import ssrf

REFUSED = [
    ("127.0.0.1", "a loopback address"),
    ("127.255.255.254", "a loopback address"),
    ("10.1.2.3", "a private address"),
    ("172.16.0.1", "a private address"),
    ("172.31.255.255", "a private address"),
    ("192.168.1.1", "a private address"),
    ("169.254.169.254", "a link-local address"),
    ("100.64.0.1", "a shared (CGNAT) address"),
    ("224.0.0.1", "a multicast address"),
    ("239.255.255.250", "a multicast address"),
    ("255.255.255.255", "the broadcast address"),
    ("240.0.0.1", "a reserved address"),
    ("0.0.0.0", "an unspecified address"),  # noqa: S104  (judged, never bound)
    ("0.1.2.3", "an unspecified address"),
    ("192.0.0.8", "a reserved (IETF protocol) address"),
    ("192.0.2.1", "a documentation address"),
    ("198.51.100.7", "a documentation address"),
    ("203.0.113.9", "a documentation address"),
    ("198.18.0.1", "a benchmarking address"),
    ("::1", "a loopback address"),
    ("::", "an unspecified address"),
    ("fc00::1", "a private (unique local) address"),
    ("fd12:3456::1", "a private (unique local) address"),
    ("fe80::1", "a link-local address"),
    ("fe80::1%eth0", "a link-local address"),
    ("fec0::1", "a private (site-local) address"),
    ("ff02::1", "a multicast address"),
    ("2001:db8::1", "a documentation address"),
    ("2001:2::1", "a benchmarking address"),
    ("100::1", "a reserved address"),
    ("64:ff9b:1::a00:1", "a reserved address"),
    ("::ffff:127.0.0.1", "a loopback address (IPv4-mapped)"),
    ("::ffff:7f00:1", "a loopback address (IPv4-mapped)"),
    ("::ffff:169.254.169.254", "a link-local address (IPv4-mapped)"),
    ("::127.0.0.1", "a loopback address (IPv4-compatible)"),
    ("::10.0.0.1", "a private address (IPv4-compatible)"),
    ("::8.8.8.8", "a reserved (IPv4-compatible) address"),
    ("64:ff9b::127.0.0.1", "a loopback address (NAT64)"),
    ("64:ff9b::a9fe:a9fe", "a link-local address (NAT64)"),
    ("2002:7f00:1::", "a loopback address (6to4)"),
    ("2002:c0a8:101::1", "a private address (6to4)"),
    # Teredo hides the client's address inverted: 80ff:fffe is ~127.0.0.1.
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "a loopback address (Teredo)"),
    ("2001:0:a00:1:8000:63bf:f7f7:f7f7", "a private address (Teredo)"),
]

ALLOWED = [
    "93.184.215.14",
    "8.8.8.8",
    "11.0.0.1",
    "100.128.0.1",
    "172.32.0.1",
    "192.169.0.1",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
]

LOOPBACK_SPELLINGS = [
    "2130706433",
    "0177.0.0.1",
    "0x7f.0.0.1",
    "0x7F.1",
    "127.1",
    "0x7f000001",
    "017700000001",
    "127.0.0.1.",
]

LOOPBACK = ipaddress.ip_address("127.0.0.1")


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_each_refused_range_is_named(address: str, reason: str) -> None:
    assert ssrf.classify(address) == reason
    assert not ssrf.is_allowed(address)


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert ssrf.classify(address) is None
    assert ssrf.is_allowed(address)


@pytest.mark.parametrize("spelling", LOOPBACK_SPELLINGS)
def test_odd_spellings_of_loopback_are_read_as_libc_reads_them(spelling: str) -> None:
    assert ssrf.parse_ip(spelling) == LOOPBACK
    assert ssrf.classify(spelling) == "a loopback address"


@pytest.mark.parametrize("host", ["example.com", "deadbeef", "cafe.example", "1.2.3.4 x", "1.2.3.4.5", ""])
def test_host_names_are_not_mistaken_for_addresses(host: str) -> None:
    assert ssrf.parse_ip(host) is None


def test_a_bracketed_ipv6_host_is_an_address() -> None:
    assert ssrf.parse_ip("[::1]") == ipaddress.ip_address("::1")


def test_classifying_something_that_is_not_an_address_is_an_error() -> None:
    with pytest.raises(ValueError, match="not an IP address"):
        ssrf.classify("example.com")


def test_an_allow_list_opens_exactly_its_networks() -> None:
    networks = ssrf.parse_networks(["127.0.0.1/32", "::1/128", "10.0.0.0/8"])
    assert ssrf.is_allowed("127.0.0.1", networks)
    assert ssrf.is_allowed("::1", networks)
    assert ssrf.is_allowed("10.200.0.1", networks)
    assert not ssrf.is_allowed("127.0.0.2", networks)
    assert not ssrf.is_allowed("169.254.169.254", networks)


def test_the_allow_list_matches_the_address_as_it_will_be_dialled() -> None:
    networks = ssrf.parse_networks(["127.0.0.0/8"])
    assert not ssrf.is_allowed("::ffff:127.0.0.1", networks)
    assert ssrf.is_allowed("::ffff:127.0.0.1", ssrf.parse_networks(["::ffff:127.0.0.0/104"]))


def test_a_typo_in_the_allow_list_is_an_error_not_a_silent_change() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/33' is not a CIDR network"):
        ssrf.parse_networks(["10.0.0.0/33"])


def test_the_allow_list_is_read_from_settings_at_call_time(settings: Any) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    assert ssrf.configured_networks() == []
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    assert ssrf.configured_networks() == [ipaddress.ip_network("127.0.0.0/8")]


def fake_dns(*answers: str) -> Any:
    calls: list[str] = []

    def getaddrinfo(host: str, port: int, **kwargs: Any) -> list[tuple[Any, ...]]:
        calls.append(host)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers
        ]

    getaddrinfo.calls = calls  # type: ignore[attr-defined]
    return getaddrinfo


def test_a_name_is_refused_if_any_of_its_addresses_is_refused() -> None:
    dns = fake_dns("93.184.215.14", "10.0.0.1")
    with pytest.raises(ssrf.AddressRefused) as refused:
        ssrf.resolve("hooks.example.test", 443, [], getaddrinfo=dns)
    assert (
        str(refused.value) == "refused: hooks.example.test resolves to 10.0.0.1, which is a private address"
    )


def test_a_name_gives_each_checked_address_once_in_order() -> None:
    dns = fake_dns("93.184.215.14", "2606:4700:4700::1111", "93.184.215.14")
    addresses = ssrf.resolve("hooks.example.test", 443, [], getaddrinfo=dns)
    assert addresses == ["93.184.215.14", "2606:4700:4700::1111"]
    assert dns.calls == ["hooks.example.test"]


def test_an_address_literal_is_never_looked_up_in_dns() -> None:
    dns = fake_dns("93.184.215.14")
    networks = ssrf.parse_networks(["127.0.0.0/8"])
    assert ssrf.resolve("2130706433", 80, networks, getaddrinfo=dns) == ["127.0.0.1"]
    assert dns.calls == []


def test_a_refusal_names_the_odd_spelling_and_the_address_it_means() -> None:
    with pytest.raises(ssrf.AddressRefused, match=r"^refused: 0x7f.1 \(127.0.0.1\) is a loopback address$"):
        ssrf.resolve("0x7f.1", 80, [], getaddrinfo=fake_dns())
