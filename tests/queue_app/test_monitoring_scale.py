"""What keeps monitoring pages cheap at scale: estimated admin counts, no DISTINCT/COUNT over the table."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from model_bakery import baker

from core import admin_scale
from queue_app.models import Task

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw-root"))
    return client


def test_paginator_counts_exactly_when_the_planner_expects_few_rows():
    baker.make(Task, task_type="noop", _quantity=7)

    paginator = admin_scale.EstimatedCountPaginator(Task.objects.order_by("-created_at"), 5)

    assert paginator.count == 7
    assert paginator.num_pages == 2


def test_paginator_uses_the_planner_estimate_for_large_lists(monkeypatch):
    baker.make(Task, task_type="noop", _quantity=30)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Task._meta.db_table}")
    monkeypatch.setattr(admin_scale, "EXACT_COUNT_BELOW", 10)
    queryset = Task.objects.order_by("-created_at")

    with CaptureQueriesContext(connection) as queries:
        count = admin_scale.EstimatedCountPaginator(queryset, 10).count

    assert count == admin_scale.planner_estimate(queryset)
    assert 20 <= count <= 40  # an estimate, close to the 30 rows
    assert not any("COUNT(" in query["sql"].upper() for query in queries.captured_queries)


def test_admin_task_list_runs_no_full_count_and_no_distinct(staff_client, monkeypatch):
    baker.make(Task, task_type="noop", _quantity=30)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Task._meta.db_table}")
    monkeypatch.setattr(admin_scale, "EXACT_COUNT_BELOW", 10)

    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get("/admin/queue_app/task/")

    assert response.status_code == 200
    task_queries = [q["sql"].upper() for q in queries.captured_queries if "QUEUE_APP_TASK" in q["sql"].upper()]
    assert not any("COUNT(" in sql for sql in task_queries)
    assert not any("DISTINCT" in sql for sql in task_queries)


def test_created_within_filter_limits_the_list(staff_client):
    recent = baker.make(Task, task_type="noop")
    old = baker.make(Task, task_type="noop")
    Task.objects.filter(id=old.id).update(created_at=timezone.now() - timedelta(days=3))

    response = staff_client.get("/admin/queue_app/task/?created_within=24h")

    ids = {str(task.id) for task in response.context["cl"].result_list}
    assert ids == {str(recent.id)}
