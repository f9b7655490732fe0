"""What one hop puts on the wire: its target and its headers, prepared by requests' own rules.

outbound.py used to send through a requests.Session; it now drives urllib3 directly (requests' session
machinery cost about a quarter of a step's CPU), but requests' pure helpers still prepare the URL and
check the headers, so what a receiver sees is byte for byte what it saw before: the same URL quoting
and IDNA host, the same default headers (Accept-Encoding, Accept, Connection) in the same order, the
same Content-Length rules and the same Basic credentials taken from a URL's user:password@ part.
What the session also did and this does not: keep a cookie jar (it was shared by every step of a
worker thread, whatever their workflow) and read the body of a redirect beyond the size cap.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlparse, urlsplit

from requests.auth import _basic_auth_str
from requests.models import PreparedRequest
from requests.utils import check_header_validity, default_headers, get_auth_from_url

# A session's defaults; the caller's headers replace them name for name (in any case), in place.
_SESSION_HEADERS = tuple(default_headers().items())
_METHODS_WITHOUT_BODY = ("GET", "HEAD")


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int | None
    path: str  # what the request line carries: path and query
    basic_auth: str | None  # an Authorization value made from credentials in the URL


# URLs up to this length are remembered (a step's URL is usually the same on every run); longer ones,
# which a template can make up to 1 MB, are prepared each time so that the cache stays small.
_REMEMBERED_URL_CHARS = 2048


def target(url: str) -> Target:
    """Raises requests' InvalidURL (a RequestException) for a URL requests would refuse."""
    return _remembered_target(url) if len(url) <= _REMEMBERED_URL_CHARS else _target(url)


@lru_cache(maxsize=1024)
def _remembered_target(url: str) -> Target:
    return _target(url)


def _target(url: str) -> Target:
    prepared = PreparedRequest()
    prepared.prepare_url(url, None)
    full = str(prepared.url)
    parsed = urlparse(full)
    parts = urlsplit(full)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    username, password = get_auth_from_url(full)
    basic = _basic_auth_str(username, password) if username or password else None
    return Target(parsed.scheme.lower(), parsed.hostname or "", parsed.port, path, basic)


def headers(given: dict[str, str], *, method: str, body: bytes | None, auth: str | None) -> dict[str, str]:
    """The request's headers in the order they are sent; raises requests' InvalidHeader for a name or
    value with leading whitespace or a line break."""
    merged = {name.lower(): (name, value) for name, value in _SESSION_HEADERS}
    for name, value in given.items():
        merged[name.lower()] = (name, value)
    for item in merged.values():
        check_header_validity(item)
    if body:
        merged["content-length"] = ("Content-Length", str(len(body)))
    elif method not in _METHODS_WITHOUT_BODY and "content-length" not in merged:
        merged["content-length"] = ("Content-Length", "0")
    if auth is not None:  # credentials in the URL win over an Authorization header, as in requests
        merged["authorization"] = ("Authorization", auth)
    return dict(merged.values())
