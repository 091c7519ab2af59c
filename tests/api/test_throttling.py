"""Per-user throttles: writes at API_THROTTLE_USER, reads at API_THROTTLE_READ; 429 in the error shape."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_writes_over_the_user_rate_answer_429_with_retry_after(operator_client, settings):
    settings.API_THROTTLE_USER = "3/min"
    statuses = [
        operator_client.post("/api/queue/tasks/", {"task_type": "noop"}, format="json").status_code for _ in range(4)
    ]
    assert statuses == [201, 201, 201, 429]
    response = operator_client.post("/api/queue/tasks/", {"task_type": "noop"}, format="json")
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "throttled" and error["field_errors"] == {}
    assert int(response.headers["Retry-After"]) > 0


def test_reads_have_their_own_budget(operator_client, settings):
    settings.API_THROTTLE_USER = "1/min"
    settings.API_THROTTLE_READ = "2/min"
    assert operator_client.post("/api/queue/tasks/", {"task_type": "noop"}, format="json").status_code == 201
    assert [operator_client.get("/api/queue/tasks/").status_code for _ in range(3)] == [200, 200, 429]


def test_the_budget_is_per_user(operator_client, settings, django_user_model):
    from rest_framework.test import APIClient

    from core.permissions import OPERATOR, role_grant, token_create

    settings.API_THROTTLE_USER = "1/min"
    assert operator_client.post("/api/queue/tasks/", {"task_type": "noop"}, format="json").status_code == 201
    assert operator_client.post("/api/queue/tasks/", {"task_type": "noop"}, format="json").status_code == 429
    other = django_user_model.objects.create_user(username="other")
    role_grant(user=other, role=OPERATOR)
    client = APIClient(HTTP_AUTHORIZATION=f"Token {token_create(user=other)[1]}")
    assert client.post("/api/queue/tasks/", {"task_type": "noop"}, format="json").status_code == 201
