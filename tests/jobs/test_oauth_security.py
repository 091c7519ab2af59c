"""The Upwork OAuth connection: operators only, bound to the starting session and user, single use, PKCE, audited."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
import requests
from rest_framework.test import APIClient

from core.errors import ValidationFailed
from core.models import AuditEntry
from core.permissions import OPERATOR, VIEWER, role_grant
from jobs import services
from jobs.errors import ApiAuthError
from jobs.models import UpworkOAuthToken
from jobs.sources.upwork_api import UpworkOAuthClient
from tests.jobs.conftest import authorization_code

pytestmark = pytest.mark.django_db


def _client(django_user_model, username: str, role: str | None) -> APIClient:
    user = django_user_model.objects.create_user(username=username, password=f"pw-{username}")
    if role:
        role_grant(user=user, role=role)
    client = APIClient()
    client.force_login(user)  # a browser session, as the connection runs in a browser
    return client


def _approve(client: APIClient) -> str:
    """Start the connection as `client` and approve it at the sandbox: the callback's query string."""
    authorize_url = client.get("/api/jobs/oauth/connect/").json()["authorize_url"]
    assert parse_qs(urlparse(authorize_url).query)["code_challenge_method"] == ["S256"]
    redirect = requests.get(authorize_url, allow_redirects=False, timeout=5).headers["Location"]
    return redirect.split("?", 1)[1]


def test_a_viewer_can_neither_start_nor_finish_the_connection(sandbox, django_user_model):
    viewer = _client(django_user_model, "viewer", VIEWER)
    assert viewer.get("/api/jobs/oauth/connect/").status_code == 403
    operator = _client(django_user_model, "op", OPERATOR)
    query = _approve(operator)
    assert viewer.get(f"/api/jobs/oauth/callback/?{query}").status_code == 403
    assert _client(django_user_model, "nobody", None).get(f"/api/jobs/oauth/callback/?{query}").status_code == 403
    assert not UpworkOAuthToken.objects.exists()


def test_a_callback_in_another_session_is_refused(sandbox, django_user_model):
    """A cross-site GET with someone else's code and state: the victim's session has no such pending authorization."""
    attacker, victim = _client(django_user_model, "op", OPERATOR), _client(django_user_model, "boss", OPERATOR)
    query = _approve(attacker)
    response = victim.get(f"/api/jobs/oauth/callback/?{query}")
    assert response.status_code == 400 and "state" in response.json()["error"]["field_errors"]
    assert not UpworkOAuthToken.objects.exists()
    assert attacker.get(f"/api/jobs/oauth/callback/?{query}").status_code == 200  # its own session: fine


def test_a_state_is_used_once(sandbox, django_user_model):
    operator = _client(django_user_model, "op", OPERATOR)
    query = _approve(operator)
    assert operator.get(f"/api/jobs/oauth/callback/?{query}").status_code == 200
    first = UpworkOAuthToken.objects.get().access_token
    assert operator.get(f"/api/jobs/oauth/callback/?{query}").status_code == 400
    assert UpworkOAuthToken.objects.get().access_token == first


def test_the_code_is_useless_without_the_pkce_verifier(sandbox):
    store: dict = {}
    code, _state = authorization_code(sandbox, store)
    with pytest.raises(ApiAuthError):
        UpworkOAuthClient().exchange_code(code=code, code_verifier="not-the-verifier-" + "x" * 40)
    assert not UpworkOAuthToken.objects.exists()


def test_connect_and_disconnect_are_audited(sandbox, django_user_model):
    operator = _client(django_user_model, "op", OPERATOR)
    assert operator.get(f"/api/jobs/oauth/callback/?{_approve(operator)}").status_code == 200
    assert operator.delete("/api/jobs/oauth/connect/").status_code == 204
    assert not UpworkOAuthToken.objects.exists()
    assert operator.delete("/api/jobs/oauth/connect/").status_code == 404
    rows = AuditEntry.objects.filter(object_type="upwork_oauth_token").order_by("id")
    assert [(r.action, r.actor_name, r.source) for r in rows] == [
        ("upwork.connect", "op", "api"),
        ("upwork.disconnect", "op", "api"),
    ]
    assert "access_token" not in str(rows[0].after)


def test_a_state_from_the_service_needs_its_store(sandbox):
    store: dict = {}
    code, state = authorization_code(sandbox, store)
    with pytest.raises(ValidationFailed, match="not started in this session"):
        services.oauth_connect(code=code, state=state, store={})
