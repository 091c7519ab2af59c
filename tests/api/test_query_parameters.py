"""Odd query parameters found by fuzzing answer 200 or 400, never a database error (5xx)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "/api/queue/tasks/",
        "/api/queue/audit/",
        "/api/jobs/jobs/",
        "/api/proposals/proposals/",
        "/api/applications/applications/",
    ],
)
def test_a_time_offset_postgresql_cannot_store_is_converted_or_refused(operator_client, path):
    params = {"created_before": "1463-11-02T02:26:21.66+19:06", "created_after": "0001-01-01T00:00:00+23:59"}
    params |= dict.fromkeys(("posted_after", "updated_after", "submitted_after"), params["created_after"])
    response = operator_client.get(path, params)
    assert response.status_code in (200, 400), response.content[:300]
    if response.status_code == 400:
        assert response.json()["error"]["code"] == "invalid"


def test_a_huge_limit_is_capped_and_a_huge_offset_is_empty(operator_client):
    response = operator_client.get("/api/queue/tasks/", {"limit": 10**31, "offset": 10**31})
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_a_url_no_route_matches_answers_json_404(operator_client, client):
    response = operator_client.get("/api/queue/scheduled/a.b/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert client.get("/admin-nothing/").status_code == 404  # outside /api/: Django's page


def test_data_postgresql_cannot_store_is_a_400_not_a_500(operator_client):
    from queue_app import registry
    from queue_app.models import Task

    registry.register("free_form_nul", lambda payload, context: None, description="Test type.")
    try:
        body = {"task_type": "free_form_nul", "payload": {"text": "a\u0000b"}}
        response = operator_client.post("/api/queue/tasks/", body, format="json")
    finally:
        registry._registry.pop("free_form_nul", None)
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["code"] == "invalid"
    assert not Task.objects.exists()


def test_a_delay_past_any_date_is_a_400(operator_client):
    response = operator_client.post("/api/queue/tasks/", {"task_type": "noop", "delay": 3.3e16}, format="json")
    assert response.status_code == 400
    assert "delay" in response.json()["error"]["field_errors"]
