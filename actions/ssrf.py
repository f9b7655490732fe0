"""The SSRF guard: which addresses a step may send requests to.

Rules:
- Refused unless an allow-list network contains the address: loopback, private (10/8, 172.16/12,
  192.168/16, fc00::/7), link-local (169.254/16 with the cloud metadata address, fe80::/10), shared
  CGNAT (100.64/10), multicast, broadcast, unspecified (0.0.0.0/8, ::), documentation, benchmarking
  and other reserved ranges, and every IPv6 address outside global unicast (2000::/3).
- IPv6 forms that carry an IPv4 address are judged by that address: IPv4-mapped (::ffff:a.b.c.d),
  IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96), 6to4 (2002::/16) and Teredo (2001::/32).
- Hosts are parsed as libc parses them, so 2130706433, 0177.0.0.1, 0x7f.0.0.1 and 127.1 are all
  127.0.0.1. A host name is resolved once; if any of its addresses is refused the host is refused,
  and the caller dials exactly the addresses returned here (no second lookup that could rebind).
- The allow-list (settings.OUTBOUND_ALLOWED_NETWORKS, CIDRs) is matched against the address as it
  will be dialled: allowing 127.0.0.0/8 does not allow ::ffff:127.0.0.1; list that form too.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[..., list[tuple[Any, ...]]]


class AddressRefused(Exception):
    """The guard refused a destination. Deliberately not an OSError: HTTP libraries catch those and
    retry or re-wrap them, and a refusal must reach the caller as itself."""


def _table(*rows: tuple[str, str]) -> list[tuple[IPNetwork, str]]:
    return [(ipaddress.ip_network(cidr), reason) for cidr, reason in rows]


# Most specific first: the first matching row gives the reason.
_V4_REFUSED = _table(
    ("255.255.255.255/32", "the broadcast address"),
    ("0.0.0.0/8", "an unspecified address"),
    ("10.0.0.0/8", "a private address"),
    ("100.64.0.0/10", "a shared (CGNAT) address"),
    ("127.0.0.0/8", "a loopback address"),
    ("169.254.0.0/16", "a link-local address"),  # includes the cloud metadata service 169.254.169.254
    ("172.16.0.0/12", "a private address"),
    ("192.0.0.0/24", "a reserved (IETF protocol) address"),
    ("192.0.2.0/24", "a documentation address"),
    ("192.88.99.0/24", "a reserved (6to4 relay) address"),
    ("192.168.0.0/16", "a private address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("224.0.0.0/4", "a multicast address"),
    ("240.0.0.0/4", "a reserved address"),
)

_V6_REFUSED = _table(
    ("::/128", "an unspecified address"),
    ("::1/128", "a loopback address"),
    ("2001:db8::/32", "a documentation address"),
    ("3fff::/20", "a documentation address"),
    ("2001:2::/48", "a benchmarking address"),
    ("2001:10::/28", "a reserved (ORCHID) address"),
    ("2001:20::/28", "a reserved (ORCHID) address"),
    ("fc00::/7", "a private (unique local) address"),
    ("fe80::/10", "a link-local address"),
    ("fec0::/10", "a private (site-local) address"),
    ("ff00::/8", "a multicast address"),
)

_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
# Only digits, dots and hex letters may go to inet_aton: glibc also accepts "1.2.3.4 anything".
_LIBC_IPV4 = re.compile(r"[0-9a-fA-FxX.]+")


def parse_ip(host: str) -> IPAddress | None:
    """The address a host names if it is an IP literal in any spelling libc accepts, else None."""
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if text.endswith("."):  # "127.0.0.1." is still an address (as browsers read it), not a DNS name
        text = text[:-1]
    if not _LIBC_IPV4.fullmatch(text):
        return None
    try:
        # inet_aton is a pure parser (no socket): it reads decimal, octal, hex and short forms.
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


def _embedded_v4(ip: ipaddress.IPv6Address) -> list[tuple[ipaddress.IPv4Address, str]]:
    """IPv4 addresses that traffic to this IPv6 address would really reach, with the form's name."""
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped is not None:
        return [(ip.ipv4_mapped, "IPv4-mapped")]
    if ip in _IPV4_COMPATIBLE:
        return [(low32, "IPv4-compatible")]
    if ip in _NAT64:
        return [(low32, "NAT64")]
    if ip.sixtofour is not None:
        return [(ip.sixtofour, "6to4")]
    if ip.teredo is not None:
        server, client = ip.teredo
        return [(server, "Teredo"), (client, "Teredo")]
    return []


def _lookup(ip: IPAddress, table: list[tuple[IPNetwork, str]]) -> str | None:
    return next((reason for network, reason in table if ip in network), None)


def classify(ip: IPAddress | str) -> str | None:
    """Why an address is refused ("a loopback address"), or None if it may be dialled."""
    address = parse_ip(ip) if isinstance(ip, str) else ip
    if address is None:
        raise ValueError(f"not an IP address: {ip!r}")
    if isinstance(address, ipaddress.IPv4Address):
        return _lookup(address, _V4_REFUSED)
    reason = _lookup(address, _V6_REFUSED)
    if reason:
        return reason
    for inner, form in _embedded_v4(address):
        inner_reason = _lookup(inner, _V4_REFUSED)
        if inner_reason:
            return f"{inner_reason} ({form})"
    if address.ipv4_mapped is not None or address in _NAT64:
        return None  # a public IPv4 address written in IPv6 form
    if address in _IPV4_COMPATIBLE:
        return "a reserved (IPv4-compatible) address"  # deprecated since 2006; nothing routes it
    if address not in _GLOBAL_UNICAST:
        return "a reserved address"
    return None


def parse_networks(values: Iterable[str]) -> list[IPNetwork]:
    """CIDRs from settings; a typo is an error, not a silently closed (or opened) range."""
    networks: list[IPNetwork] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"OUTBOUND_ALLOWED_NETWORKS: {value!r} is not a CIDR network") from None
    return networks


def configured_networks() -> list[IPNetwork]:
    # Read at call time so tests and settings overrides take effect without a restart of the module;
    # parsed once per distinct value (a copy is handed out: callers may keep or change their list).
    return list(_parsed_networks(tuple(getattr(settings, "OUTBOUND_ALLOWED_NETWORKS", []))))


@lru_cache(maxsize=16)
def _parsed_networks(values: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(parse_networks(values))


def _strip_scope(ip: IPAddress) -> IPAddress:
    # "fe80::1%eth0" is never inside a network object's range unless its scope is dropped.
    return ipaddress.ip_address(str(ip).split("%")[0])


def is_allowed(ip: IPAddress | str, allowed_networks: Iterable[IPNetwork] = ()) -> bool:
    address = parse_ip(ip) if isinstance(ip, str) else ip
    if address is None:
        return False
    bare = _strip_scope(address)
    if any(bare.version == net.version and bare in net for net in allowed_networks):
        return True
    return classify(address) is None


def check(ip: IPAddress, allowed_networks: Iterable[IPNetwork], *, host: str) -> None:
    """Raise AddressRefused with a plain message unless the address may be dialled."""
    networks = list(allowed_networks)
    if is_allowed(ip, networks):
        return
    reason = classify(ip) or "not allowed"
    if parse_ip(host) is not None:
        shown = str(ip) if host.strip("[]") == str(ip) else f"{host} ({ip})"
        raise AddressRefused(f"refused: {shown} is {reason}")
    raise AddressRefused(f"refused: {host} resolves to {ip}, which is {reason}")


def resolve(
    host: str,
    port: int,
    allowed_networks: Iterable[IPNetwork],
    *,
    getaddrinfo: Resolver | None = None,
) -> list[str]:
    """Every address of host, each checked; these exact strings are what the caller may dial.

    Raises AddressRefused if any address is refused (a name with one private address among public
    ones is treated as hostile), or socket.gaierror if the name does not resolve.
    """
    networks = list(allowed_networks)
    literal = parse_ip(host)
    if literal is not None:  # never ask DNS about something that is already an address
        check(literal, networks, host=host)
        return [str(literal)]
    addresses: list[str] = []
    lookup = getaddrinfo or socket.getaddrinfo  # looked up at call time, so tests can stand in for DNS
    for *_, sockaddr in lookup(host, port, type=socket.SOCK_STREAM):
        text = str(sockaddr[0])
        ip = parse_ip(text)
        if ip is None:  # an address family we do not know how to judge
            raise AddressRefused(f"refused: {host} resolves to {text}, which is not an IP address")
        check(ip, networks, host=host)
        if text not in addresses:
            addresses.append(text)
    return addresses
