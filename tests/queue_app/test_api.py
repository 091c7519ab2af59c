"""The task API: enqueue, list, read, cancel, retry; one error shape; authentication required."""

import pytest
from model_bakery import baker
from rest_framework.test import APIClient

from queue_app.models import Task, TaskStatus

pytestmark = pytest.mark.django_db


def test_post_enqueues_and_answers_201_with_the_task(api_client, user):
    response = api_client.post(
        "/api/queue/tasks/", {"task_type": "noop", "payload": {"sleep_ms": 1}, "priority": "high"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    task = Task.objects.get(id=body["id"])
    assert body["status"] == task.status == TaskStatus.QUEUED
    assert task.source == "api"
    assert task.requested_by == user
    assert body["requested_by"] == "operator"


def test_bad_input_answers_400_with_field_errors_and_writes_nothing(api_client):
    response = api_client.post("/api/queue/tasks/", {"task_type": "noop", "payload": {"sleep_ms": -5}}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "payload.sleep_ms" in error["field_errors"]
    response = api_client.post("/api/queue/tasks/", {"task_type": "nope"}, format="json")
    assert response.status_code == 400
    assert "task_type" in response.json()["error"]["field_errors"]
    response = api_client.post("/api/queue/tasks/", {"priority": "urgent"}, format="json")
    assert set(response.json()["error"]["field_errors"]) == {"task_type", "priority"}
    assert Task.objects.count() == 0


def test_list_filters_by_status_and_type_and_paginates(api_client):
    baker.make(Task, task_type="noop", status=TaskStatus.COMPLETED, _quantity=3)
    baker.make(Task, task_type="noop", status=TaskStatus.FAILED)
    baker.make(Task, task_type="cleanup_tasks", status=TaskStatus.COMPLETED)
    body = api_client.get("/api/queue/tasks/", {"status": "completed", "task_type": "noop", "limit": 2}).json()
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert {row["status"] for row in body["results"]} == {"completed"}


def test_task_is_readable_at_both_paths(api_client):
    task = baker.make(Task, task_type="noop")
    assert api_client.get(f"/api/queue/task/{task.id}").json()["id"] == str(task.id)
    assert api_client.get(f"/api/queue/tasks/{task.id}/").json()["id"] == str(task.id)
    missing = api_client.get("/api/queue/task/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert api_client.get("/api/queue/task/not-a-uuid").status_code == 404


def test_cancel_and_retry_actions(api_client):
    task = baker.make(Task, task_type="noop", status=TaskStatus.QUEUED)
    response = api_client.post(f"/api/queue/tasks/{task.id}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    again = api_client.post(f"/api/queue/tasks/{task.id}/cancel/")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid_transition"
    response = api_client.post(f"/api/queue/tasks/{task.id}/retry/")
    assert response.status_code == 200
    assert response.json()["status"] == "queued"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/queue/tasks/"),
        ("post", "/api/queue/tasks/"),
        ("get", "/api/queue/task/00000000-0000-0000-0000-000000000000"),
        ("get", "/api/queue/tasks/00000000-0000-0000-0000-000000000000/"),
        ("post", "/api/queue/tasks/00000000-0000-0000-0000-000000000000/cancel/"),
        ("post", "/api/queue/tasks/00000000-0000-0000-0000-000000000000/retry/"),
    ],
)
def test_unauthenticated_requests_are_refused(method, path):
    response = getattr(APIClient(), method)(path, {}, format="json")
    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] in ("not_authenticated", "authentication_failed")
    assert Task.objects.count() == 0


def test_token_authentication_works(user):
    from core.permissions import token_create

    _token, key = token_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/queue/tasks/").status_code == 200
