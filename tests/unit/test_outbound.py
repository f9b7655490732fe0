"""The outbound door, end to end against real servers on loopback (and nowhere else).

"Received nothing" is checked with a bare listening socket: a refused request must not even connect.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from actions import outbound
from tests.support.receiver import Receiver, Reply

LOOPBACK_ONLY = ["127.0.0.1/32"]


class Listener:
    """A socket that listens and never answers: it only tells whether anyone connected."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.create_server((host, 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def nobody_connected(self) -> bool:
        try:
            conn, _ = self.sock.accept()
        except BlockingIOError:
            return True
        conn.close()
        return False


@pytest.fixture
def listener() -> Iterator[Listener]:
    bare = Listener()
    yield bare
    bare.sock.close()


def get(url: str, **kwargs: Any) -> outbound.OutboundResponse:
    return outbound.send(method="GET", url=url, headers={}, data=None, timeout=5, **kwargs)


def test_loopback_is_refused_unless_allowed_and_nothing_connects(
    settings: Any, receiver: Receiver, listener: Listener
) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    for url in (receiver.url, f"http://127.0.0.1:{listener.port}/"):
        with pytest.raises(outbound.OutboundError, match=r"^refused: 127.0.0.1 is a loopback address$") as e:
            get(url)
        assert e.value.retryable is False
    assert receiver.requests == []
    assert listener.nobody_connected()


def test_loopback_goes_through_when_the_setting_allows_it(settings: Any, receiver: Receiver) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    response = get(f"{receiver.url}/hook")
    assert (response.status, response.body, response.redirects) == (200, b'{"ok": true}', 0)
    assert [r.path for r in receiver.requests] == ["/hook"]


def test_an_explicit_allow_list_wins_over_the_setting(settings: Any, receiver: Receiver) -> None:
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    with pytest.raises(outbound.OutboundError, match="loopback"):
        get(receiver.url, allowed_networks=[])
    assert receiver.requests == []


@pytest.mark.parametrize(
    "host", ["2130706433", "0177.0.0.1", "0x7f.0.0.1", "127.1", "[::1]", "[::ffff:127.0.0.1]", "localhost"]
)
def test_odd_spellings_of_loopback_are_refused_before_connecting(host: str, listener: Listener) -> None:
    with pytest.raises(outbound.OutboundError, match=r"^refused: .* is a loopback address"):
        get(f"http://{host}:{listener.port}/", allowed_networks=[])
    assert listener.nobody_connected()


def test_an_odd_spelling_reaches_the_allowed_address_it_means(receiver: Receiver) -> None:
    port = receiver.url.rsplit(":", 1)[1]
    assert get(f"http://2130706433:{port}/", allowed_networks=LOOPBACK_ONLY).status == 200


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/", "gopher://127.0.0.1:70/"])
def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(outbound.OutboundError, match="only http and https") as refused:
        get(url, allowed_networks=LOOPBACK_ONLY)
    assert refused.value.retryable is False


def redirect(location: str, status: int = 302) -> Reply:
    return Reply(status=status, body=b"", headers={"Location": location})


def test_redirects_are_not_followed_unless_asked(receiver: Receiver) -> None:
    receiver.replies = [redirect("/next"), Reply()]
    response = get(receiver.url, allowed_networks=LOOPBACK_ONLY)
    assert (response.status, response.headers["Location"]) == (302, "/next")
    assert len(receiver.requests) == 1


def test_a_redirect_to_a_refused_address_is_checked_again_and_refused(receiver: Receiver) -> None:
    elsewhere = Listener("127.0.0.2")  # still loopback: refused before any connection is attempted
    receiver.replies = [redirect(f"http://127.0.0.2:{elsewhere.port}/")]
    with pytest.raises(outbound.OutboundError, match=r"^refused: 127.0.0.2 is a loopback address$"):
        get(receiver.url, allowed_networks=LOOPBACK_ONLY, follow_redirects=True)
    assert len(receiver.requests) == 1
    assert elsewhere.nobody_connected()
    elsewhere.sock.close()


def test_a_303_after_a_post_continues_as_a_get_without_the_body(receiver: Receiver) -> None:
    receiver.replies = [redirect("/done", status=303), Reply(body=b"done")]
    response = outbound.send(
        method="POST", url=f"{receiver.url}/start", headers={"Content-Type": "application/json"},
        data=b'{"a": 1}', timeout=5, allowed_networks=LOOPBACK_ONLY, follow_redirects=True,
    )  # fmt: skip
    assert (response.status, response.body, response.redirects) == (200, b"done", 1)
    assert response.url == f"{receiver.url}/done"
    first, second = receiver.requests
    assert (first.method, first.body, second.method, second.body) == ("POST", b'{"a": 1}', "GET", b"")
    assert "content-type" not in second.headers


def test_a_307_repeats_the_method_and_the_body(receiver: Receiver) -> None:
    receiver.replies = [redirect("/again", status=307), Reply()]
    outbound.send(
        method="PUT", url=receiver.url, headers={}, data=b"payload", timeout=5,
        allowed_networks=LOOPBACK_ONLY, follow_redirects=True,
    )  # fmt: skip
    assert [(r.method, r.path, r.body) for r in receiver.requests][1] == ("PUT", "/again", b"payload")


def test_credentials_stay_behind_when_a_redirect_leaves_the_origin(receiver: Receiver) -> None:
    other = Receiver().start()  # another port is another origin
    try:
        receiver.replies = [redirect("/same"), redirect(f"{other.url}/other"), Reply()]
        headers = {"Authorization": "Bearer t", "X-Api-Key": "k", "X-Env": "test"}
        outbound.send(
            method="GET", url=receiver.url, headers=headers, data=None, timeout=5,
            allowed_networks=LOOPBACK_ONLY, follow_redirects=True, secret_headers=["X-Api-Key"],
        )  # fmt: skip
        same = receiver.requests[1].headers
        (moved,) = other.requests
    finally:
        other.stop()
    assert (same["authorization"], same["x-api-key"]) == ("Bearer t", "k")
    assert "authorization" not in moved.headers and "x-api-key" not in moved.headers
    assert moved.headers["x-env"] == "test"


def test_more_than_five_redirects_are_refused(receiver: Receiver) -> None:
    receiver.replies = [redirect("/loop")]
    with pytest.raises(outbound.OutboundError, match="more than 5 redirects"):
        get(receiver.url, allowed_networks=LOOPBACK_ONLY, follow_redirects=True)
    assert len(receiver.requests) == 6


def test_a_response_bigger_than_the_cap_is_truncated(settings: Any, receiver: Receiver) -> None:
    receiver.replies = [Reply(body=b"x" * 5000)]
    settings.HTTP_ACTION_MAX_RESPONSE_BYTES = 1000
    response = get(receiver.url, allowed_networks=LOOPBACK_ONLY)
    assert (len(response.body), response.truncated) == (1000, True)
    response = get(receiver.url, allowed_networks=LOOPBACK_ONLY, max_response_bytes=5000)
    assert (len(response.body), response.truncated) == (5000, False)


# --- A name is resolved once, checked, and that exact address is dialled ---------------------------


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[list[str]]]:
    """Stands in for DNS for *.example.test names: each lookup pops the next answer. Addresses given as
    literals still go to the real getaddrinfo, which parses them without a lookup."""
    answers: dict[str, list[list[str]]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        if not host.endswith(".example.test"):
            return real(host, port, *args, **kwargs)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in answers[host].pop(0)]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def test_a_name_is_resolved_once_and_its_checked_address_is_dialled(dns: Any, receiver: Receiver) -> None:
    # A rebinding name: the check sees 127.0.0.1, a second lookup would see 127.0.0.2. There is none.
    dns["hooks.example.test"] = [["127.0.0.1"], ["127.0.0.2"]]
    port = receiver.url.rsplit(":", 1)[1]
    assert get(f"http://hooks.example.test:{port}/x", allowed_networks=LOOPBACK_ONLY).status == 200
    assert dns["hooks.example.test"] == [["127.0.0.2"]]
    assert receiver.requests[0].headers["host"] == f"hooks.example.test:{port}"


def test_a_name_with_one_refused_address_is_refused(dns: Any, receiver: Receiver) -> None:
    dns["mixed.example.test"] = [["127.0.0.1", "127.0.0.2"]]
    port = receiver.url.rsplit(":", 1)[1]
    with pytest.raises(outbound.OutboundError, match=r"mixed\.example\.test resolves to 127\.0\.0\.2"):
        get(f"http://mixed.example.test:{port}/", allowed_networks=LOOPBACK_ONLY)
    assert receiver.requests == []


def test_a_name_that_does_not_resolve_is_a_retryable_error(dns: Any) -> None:
    with pytest.raises(
        outbound.OutboundError, match=r"^could not connect: .*nowhere\.example\.test"
    ) as failed:
        get("http://nowhere.example.test/", allowed_networks=LOOPBACK_ONLY)
    assert failed.value.retryable is True


def test_a_lowercase_location_header_is_followed(receiver: Receiver) -> None:
    receiver.replies = [Reply(status=302, body=b"", headers={"location": "/next"}), Reply()]
    assert get(receiver.url, allowed_networks=LOOPBACK_ONLY, follow_redirects=True).redirects == 1


def self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path, list[str | None]]]:
    """HTTPS on 127.0.0.1 with a certificate for hooks.example.test; records the SNI names it is sent."""
    cert, key = self_signed(tmp_path, "hooks.example.test")
    sni: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda _sock, name, _ctx: sni.append(name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], cert, sni
    server.shutdown()
    server.server_close()


def test_tls_checks_the_certificate_and_sends_sni_for_the_name_not_the_address(
    dns: Any, tls_server: tuple[int, Path, list[str | None]]
) -> None:
    port, cert, sni = tls_server
    dns["hooks.example.test"] = [["127.0.0.1"]]
    response = get(f"https://hooks.example.test:{port}/", allowed_networks=LOOPBACK_ONLY, ca_bundle=str(cert))
    assert (response.status, response.body) == (200, b"ok")
    assert sni == ["hooks.example.test"]


def test_a_certificate_for_another_name_fails_the_request(
    dns: Any, tls_server: tuple[int, Path, list[str | None]]
) -> None:
    port, cert, _ = tls_server
    dns["other.example.test"] = [["127.0.0.1"]]
    with pytest.raises(outbound.OutboundError, match=r"^TLS failed: .*(mismatch|match)"):
        get(f"https://other.example.test:{port}/", allowed_networks=LOOPBACK_ONLY, ca_bundle=str(cert))
