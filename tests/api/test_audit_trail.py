"""Operators can act through the API; each action leaves one audit row with who, where from, before and after."""

from __future__ import annotations

import pytest
from django.test import Client

from core.actor import Actor
from core.models import AuditEntry
from queue_app import services
from queue_app.models import ScheduledTask, Task

pytestmark = pytest.mark.django_db

CLIENT_IP = "203.0.113.7"


def audit_rows(object_id) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(object_id=str(object_id)).order_by("created_at", "id"))


def test_enqueue_cancel_and_retry_over_the_api_are_audited_with_the_client_address(operator_client, operator):
    created = operator_client.post("/api/queue/tasks/", {"task_type": "noop"}, format="json", REMOTE_ADDR=CLIENT_IP)
    assert created.status_code == 201
    task_id = created.json()["id"]
    assert operator_client.post(f"/api/queue/tasks/{task_id}/cancel/", REMOTE_ADDR=CLIENT_IP).status_code == 200
    assert operator_client.post(f"/api/queue/tasks/{task_id}/retry/", REMOTE_ADDR=CLIENT_IP).status_code == 200
    rows = audit_rows(task_id)
    assert [(r.action, r.source, r.actor_id, r.actor_name, r.remote_addr) for r in rows] == [
        ("task.enqueue", "api", operator.pk, "op", CLIENT_IP),
        ("task.cancel", "api", operator.pk, "op", CLIENT_IP),
        ("task.retry", "api", operator.pk, "op", CLIENT_IP),
    ]
    assert rows[0].before is None and rows[0].after["status"] == "queued"
    assert (rows[1].before["status"], rows[1].after["status"]) == ("queued", "cancelled")
    assert (rows[2].before["status"], rows[2].after["status"]) == ("cancelled", "queued")


def test_schedule_create_edit_disable_enable_delete_over_the_api_are_audited(operator_client, operator):
    body = {"name": "nightly", "cron_expression": "0 3 * * *", "task_type": "noop", "timezone": "UTC"}
    created = operator_client.post("/api/queue/scheduled/", body, format="json", REMOTE_ADDR=CLIENT_IP)
    assert created.status_code == 201, created.json()
    schedule_id = created.json()["id"]
    url = f"/api/queue/scheduled/{schedule_id}/"
    assert (
        operator_client.patch(url, {"cron_expression": "0 4 * * *"}, format="json", REMOTE_ADDR=CLIENT_IP).status_code
        == 200
    )
    assert operator_client.post(f"{url}disable/", REMOTE_ADDR=CLIENT_IP).status_code == 200
    assert operator_client.post(f"{url}enable/", REMOTE_ADDR=CLIENT_IP).status_code == 200
    assert operator_client.delete(url, REMOTE_ADDR=CLIENT_IP).status_code == 204
    assert not ScheduledTask.objects.filter(pk=schedule_id).exists()

    rows = audit_rows(schedule_id)
    assert [r.action for r in rows] == [
        "schedule.create",
        "schedule.update",
        "schedule.disable",
        "schedule.enable",
        "schedule.delete",
    ]
    assert {(r.object_type, r.source, r.actor_id, r.remote_addr) for r in rows} == {
        ("scheduled_task", "api", operator.pk, CLIENT_IP)
    }
    create, edit, disable, enable, delete = rows
    assert create.before is None and create.after["cron_expression"] == "0 3 * * *"
    assert (edit.before["cron_expression"], edit.after["cron_expression"]) == ("0 3 * * *", "0 4 * * *")
    assert (disable.before["enabled"], disable.after["enabled"]) == (True, False)
    assert (enable.before["enabled"], enable.after["enabled"]) == (False, True)
    assert delete.before["name"] == "nightly" and delete.after is None


def test_a_change_that_changes_nothing_writes_no_audit_row(operator_client):
    schedule = ScheduledTask.objects.create(name="s", cron_expression="0 3 * * *", task_type="noop", timezone="UTC")
    assert operator_client.post(f"/api/queue/scheduled/{schedule.pk}/enable/").status_code == 200
    assert not AuditEntry.objects.filter(object_id=str(schedule.pk)).exists()


def test_a_refused_write_by_a_viewer_changes_nothing_and_writes_no_audit_row(viewer_client):
    task = services.task_enqueue(task_type="noop")
    rows_before = AuditEntry.objects.count()
    assert viewer_client.post(f"/api/queue/tasks/{task.id}/cancel/").status_code == 403
    assert viewer_client.post("/api/queue/tasks/", {"task_type": "noop"}, format="json").status_code == 403
    assert Task.objects.get(pk=task.pk).status == "queued"
    assert Task.objects.count() == 1
    assert AuditEntry.objects.count() == rows_before


def test_admin_schedule_actions_are_audited_as_admin_with_the_address(django_user_model):
    admin_user = django_user_model.objects.create_superuser(username="boss", password="pw-boss")
    schedule = ScheduledTask.objects.create(name="s", cron_expression="0 3 * * *", task_type="noop", timezone="UTC")
    client = Client(REMOTE_ADDR=CLIENT_IP)
    client.force_login(admin_user)
    response = client.post(
        "/admin/queue_app/scheduledtask/",
        {"action": "disable_schedules", "_selected_action": [schedule.pk]},
    )
    assert response.status_code == 302
    row = AuditEntry.objects.get(object_id=str(schedule.pk))
    assert (row.action, row.source, row.actor_name, row.remote_addr) == ("schedule.disable", "admin", "boss", CLIENT_IP)


def test_the_audit_api_lists_and_filters_for_operators(operator_client, viewer_client):
    first = services.task_enqueue(task_type="noop")
    services.task_cancel(task_id=first.id)
    response = operator_client.get("/api/queue/audit/", {"action": "task.cancel"})
    assert response.status_code == 200
    body = response.json()
    assert [row["action"] for row in body["results"]] == ["task.cancel"]
    assert body["results"][0]["object_id"] == str(first.id)
    assert viewer_client.get("/api/queue/audit/").status_code == 403


def test_the_audit_api_is_read_only_even_for_operators(operator_client):
    entry = AuditEntry.objects.create(actor_name="system", source="system", action="x", object_type="t", object_id="1")
    assert operator_client.post("/api/queue/audit/", {}, format="json").status_code in (403, 405)
    assert operator_client.delete(f"/api/queue/audit/{entry.pk}/").status_code in (403, 405)
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_superusers_cannot_edit_or_delete_audit_rows_in_the_admin(django_user_model):
    admin_user = django_user_model.objects.create_superuser(username="boss", password="pw-boss")
    entry = AuditEntry.objects.create(actor_name="system", source="system", action="x", object_type="t", object_id="1")
    client = Client()
    client.force_login(admin_user)
    assert client.get("/admin/core/auditentry/").status_code == 200
    assert client.get("/admin/core/auditentry/?actor__id__exact=1&created_within=24h").status_code == 200
    assert client.post(f"/admin/core/auditentry/{entry.pk}/change/", {"action": "edited"}).status_code == 403
    assert client.post(f"/admin/core/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = client.post("/admin/core/auditentry/", {"action": "delete_selected", "_selected_action": [entry.pk]})
    assert bulk.status_code in (200, 302)
    assert AuditEntry.objects.get(pk=entry.pk).action == "x"


def test_postgresql_refuses_to_edit_or_delete_audit_rows_but_a_deleted_user_leaves_the_name(django_user_model):
    from django.db import IntegrityError, transaction

    actor = django_user_model.objects.create_user(username="leaver")
    task = services.task_enqueue(task_type="noop", actor=Actor(user=actor))
    entry = AuditEntry.objects.get(object_id=str(task.id))
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(action="task.forged")
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    actor.delete()  # ON DELETE SET NULL may still clear the link
    entry.refresh_from_db()
    assert (entry.action, entry.actor_id, entry.actor_name) == ("task.enqueue", None, "leaver")
