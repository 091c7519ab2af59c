"""The task admin: staff only, readable detail, cancel and retry actions calling the services."""

import pytest
from model_bakery import baker

from queue_app.models import Task, TaskStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(admin)
    return client


def test_admin_requires_staff(client, django_user_model):
    user = django_user_model.objects.create_user("plain", password="pw")
    client.force_login(user)
    response = client.get("/admin/queue_app/task/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_task_list_filters_and_search(staff_client):
    task = baker.make(Task, task_type="noop", status=TaskStatus.FAILED)
    baker.make(Task, task_type="cleanup_tasks", status=TaskStatus.COMPLETED)
    response = staff_client.get("/admin/queue_app/task/", {"status__exact": "failed"})
    assert response.status_code == 200
    assert str(task.id)[:8] in response.content.decode()
    rows = response.content.decode().split('id="result_list"')[1].split("</table>")[0]
    assert "cleanup_tasks" not in rows
    response = staff_client.get("/admin/queue_app/task/", {"q": str(task.id)})
    assert str(task.id)[:8] in response.content.decode()


def test_detail_shows_payload_result_and_traceback_read_only(staff_client):
    task = baker.make(
        Task,
        task_type="noop",
        payload={"sleep_ms": 7},
        result={"ok": True},
        status=TaskStatus.FAILED,
        error_traceback="Traceback (most recent call last):\n  boom",
    )
    page = staff_client.get(f"/admin/queue_app/task/{task.id}/change/").content.decode()
    assert "&quot;sleep_ms&quot;: 7" in page
    assert "Traceback (most recent call last)" in page
    assert 'name="_save"' not in page  # read-only


def test_cancel_and_retry_actions_call_the_services(staff_client):
    queued = baker.make(Task, task_type="noop", status=TaskStatus.QUEUED)
    completed = baker.make(Task, task_type="noop", status=TaskStatus.COMPLETED)
    response = staff_client.post(
        "/admin/queue_app/task/",
        {"action": "cancel_tasks", "_selected_action": [str(queued.id), str(completed.id)]},
        follow=True,
    )
    page = response.content.decode()
    assert "Cancelled 1 task(s)." in page
    assert "only pending, scheduled, queued, retrying or processing" in page
    queued.refresh_from_db()
    assert queued.status == TaskStatus.CANCELLED
    staff_client.post("/admin/queue_app/task/", {"action": "retry_tasks", "_selected_action": [str(queued.id)]})
    queued.refresh_from_db()
    assert queued.status == TaskStatus.QUEUED
