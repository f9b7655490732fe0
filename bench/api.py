"""Setting up workflows the way a user does: a token from manage.py, then the REST API over HTTP."""

from __future__ import annotations

import re
from typing import Any

import requests

from bench.stack import Stack


class Api:
    def __init__(self, base_url: str, token: str) -> None:
        self.base = f"{base_url}/api"
        self.session = requests.Session()
        self.session.trust_env = False  # loopback only: no proxy from the environment
        self.session.headers["Authorization"] = f"Token {token}"

    def call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        response = self.session.request(method, f"{self.base}{path}", json=body, timeout=30)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path} answered {response.status_code}: {response.text[:500]}")
        result: dict[str, Any] = response.json()
        return result


def api_for_new_user(stack: Stack, username: str = "bench") -> Api:
    stack.manage("createsuperuser", "--noinput", "--username", username, "--email", f"{username}@example.com")
    printed = stack.manage("drf_create_token", username)
    match = re.search(r"Generated token (\S+) for user", printed)
    if match is None:
        raise RuntimeError(f"no token in drf_create_token's output: {printed!r}")
    return Api(stack.web_url, match.group(1))
