"""Fixtures for job discovery: the sandbox marketplace on 127.0.0.1, settings pointing at it, sessions, tokens."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
import requests

from scripts.sandbox.server import SandboxServer, start_sandbox


@pytest.fixture(scope="session")
def sandbox_server():
    server = start_sandbox()
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server, settings) -> SandboxServer:
    """The sandbox with a clean slate, and every Upwork URL and pacing knob pointed at it for this test."""
    sandbox_server.state.reset()
    settings.UPWORK_BASE_URL = sandbox_server.url
    settings.UPWORK_CLIENT_ID = "sandbox-client"
    settings.UPWORK_CLIENT_SECRET = "sandbox-secret"
    settings.UPWORK_API_PAGE_SIZE = 10
    settings.UPWORK_API_MAX_RETRY_WAIT = 5
    settings.JOBS_BROWSER_DELAY_MIN = 0.0
    settings.JOBS_BROWSER_DELAY_MAX = 0.02
    settings.JOBS_BROWSER_NAV_TIMEOUT = 15
    return sandbox_server


def sandbox_storage_state(sandbox: SandboxServer) -> dict:
    return requests.get(f"{sandbox.url}/__sandbox__/storage-state", timeout=5).json()


@pytest.fixture
def browser_session(sandbox, db):
    from jobs import services

    return services.browser_session_import(name="sandbox", storage_state=sandbox_storage_state(sandbox))


def authorization_code(sandbox: SandboxServer, store: dict) -> tuple[str, str]:
    """Walk the authorization-code flow's first leg like a browser: approve, read the redirect's code and state.

    `store` stands for the session: it keeps the pending authorization (nonce, PKCE verifier).
    """
    from jobs import services

    authorize_url = services.oauth_authorization_start(store=store)
    response = requests.get(authorize_url, allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    query = parse_qs(urlparse(response.headers["Location"]).query)
    return query["code"][0], query["state"][0]


@pytest.fixture
def api_token(sandbox, db):
    from jobs import services

    store: dict = {}
    code, state = authorization_code(sandbox, store)
    return services.oauth_connect(code=code, state=state, store=store)
