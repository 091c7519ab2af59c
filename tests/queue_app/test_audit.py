"""Every task state change made by a person or the system leaves an audit row."""

import pytest

from core.actor import Actor
from core.models import AuditEntry
from queue_app import services

pytestmark = pytest.mark.django_db


def test_enqueue_cancel_and_retry_are_audited_with_who_where_and_before_after(user):
    task = services.task_enqueue(task_type="noop", actor=Actor(user=user, source="api"))
    services.task_cancel(task_id=task.id, actor=Actor(user=user, source="admin"))
    services.task_retry(task_id=task.id, actor=Actor.cli())
    entries = list(AuditEntry.objects.filter(object_id=str(task.id)).order_by("created_at", "id"))
    assert [(e.action, e.source, e.actor_name) for e in entries] == [
        ("task.enqueue", "api", "operator"),
        ("task.cancel", "admin", "operator"),
        ("task.retry", "cli", "system"),
    ]
    assert entries[0].before is None and entries[0].after["status"] == "queued"
    assert (entries[1].before["status"], entries[1].after["status"]) == ("queued", "cancelled")
    assert (entries[2].before["status"], entries[2].after["status"]) == ("cancelled", "queued")


def test_a_refused_enqueue_writes_no_audit_row():
    with pytest.raises(services.ValidationFailed):
        services.task_enqueue(task_type="noop", payload={"sleep_ms": -1})
    assert not AuditEntry.objects.exists()


def test_bulk_enqueue_writes_one_audit_row_listing_the_tasks():
    tasks = services.task_enqueue_many(requests=[services.EnqueueRequest(task_type="noop") for _ in range(3)])
    entry = AuditEntry.objects.get()
    assert entry.action == "task.enqueue_many"
    assert entry.after == {"count": 3, "task_ids": [str(task.id) for task in tasks]}
