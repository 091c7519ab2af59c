"""Every API endpoint, found from the URL resolver: no credentials → 401/403; viewers cannot write; no role → 403."""

from __future__ import annotations

import re

import pytest
from rest_framework.schemas.generators import EndpointEnumerator

pytestmark = pytest.mark.django_db

SAFE = {"GET", "HEAD", "OPTIONS"}
# Readable by operators and staff only.
# The audit log; the Upwork OAuth connection (starting it writes a pending authorization, finishing it the tokens).
OPERATOR_ONLY_READS = {
    "/api/queue/audit/",
    "/api/queue/audit/{pk}/",
    "/api/jobs/oauth/connect/",
    "/api/jobs/oauth/callback/",
}


class AllApiViews(EndpointEnumerator):
    """Every DRF view under /api/, whether or not it is in the OpenAPI schema."""

    def should_include_endpoint(self, path, callback):
        return path.startswith("/api/") and "{format}" not in path and hasattr(callback, "cls")


def api_endpoints() -> list[tuple[str, str]]:
    return sorted({(path, method) for path, method, _ in AllApiViews().get_api_endpoints()})


def concrete(path: str) -> str:
    """A URL for a path template; the placeholder ids need not exist (access is checked before lookup)."""
    return re.sub(r"\{[^}]+\}", "1", path)


def call(client, method: str, path: str):
    return getattr(client, method.lower())(concrete(path), {}, format="json")


ENDPOINTS = api_endpoints()
WRITES = [(path, method) for path, method in ENDPOINTS if method not in SAFE]
READS = [(path, method) for path, method in ENDPOINTS if method in SAFE]


def test_the_enumeration_finds_every_resource():
    paths = {path for path, _ in ENDPOINTS}
    for expected in [
        "/api/queue/tasks/",
        "/api/queue/tasks/{pk}/cancel/",
        "/api/queue/scheduled",
        "/api/queue/scheduled/{pk}/disable/",
        "/api/queue/audit/",
        "/api/queue/workers/",
        "/api/queue/stats",
        "/api/schema/",
        "/api/docs/",
        "/api/jobs/jobs/",
    ]:
        assert expected in paths, f"{expected} missing from {sorted(paths)}"
    assert len(WRITES) >= 10


@pytest.mark.parametrize(("path", "method"), ENDPOINTS, ids=[f"{m} {p}" for p, m in ENDPOINTS])
def test_without_credentials_every_endpoint_answers_401_or_403(anonymous_client, path, method):
    response = call(anonymous_client, method, path)
    assert response.status_code in (401, 403), (method, path, response.status_code)
    if response.headers.get("Content-Type", "").startswith("application/json"):
        assert set(response.json()["error"]) == {"code", "message", "field_errors"}


@pytest.mark.parametrize(("path", "method"), WRITES, ids=[f"{m} {p}" for p, m in WRITES])
def test_a_viewer_gets_403_on_every_write(viewer_client, path, method):
    response = call(viewer_client, method, path)
    assert response.status_code == 403, (method, path, response.status_code)
    assert response.json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize(("path", "method"), READS, ids=[f"{m} {p}" for p, m in READS])
def test_a_viewer_may_read_everything_but_the_audit_log(viewer_client, path, method):
    response = call(viewer_client, method, path)
    if path in OPERATOR_ONLY_READS:
        assert response.status_code == 403
    else:
        assert response.status_code not in (401, 403), (method, path, response.status_code)


@pytest.mark.parametrize(("path", "method"), READS, ids=[f"{m} {p}" for p, m in READS])
def test_a_user_without_a_role_gets_403_on_every_read(no_role_client, path, method):
    assert call(no_role_client, method, path).status_code == 403


def test_staff_without_a_role_may_write(django_user_model):
    from rest_framework.test import APIClient

    staff = django_user_model.objects.create_user(username="staffer", password="pw", is_staff=True)
    client = APIClient()
    client.force_authenticate(staff)
    assert client.post("/api/queue/tasks/", {"task_type": "noop"}, format="json").status_code == 201
