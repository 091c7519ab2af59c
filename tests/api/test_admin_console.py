"""The admin console: every registered model's list loads with its filters, search and date drill-down; staff only."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

MODEL_ADMINS = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
QUEUE_MODELS = ["queue_app.Task", "queue_app.ScheduledTask", "core.AuditEntry", "queue_app.WorkerProcess"]


@pytest.fixture
def admin_client_(django_user_model):
    client = Client()
    client.force_login(django_user_model.objects.create_superuser(username="boss", password="pw-boss"))
    return client


def changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


@pytest.mark.parametrize(("model", "model_admin"), MODEL_ADMINS, ids=[m._meta.label for m, _ in MODEL_ADMINS])
def test_every_model_list_loads_with_search(admin_client_, model, model_admin):
    assert admin_client_.get(changelist(model)).status_code == 200
    if model_admin.search_fields:
        assert admin_client_.get(changelist(model), {"q": "x"}).status_code == 200


@pytest.mark.parametrize("label", QUEUE_MODELS)
def test_queue_models_have_filters_and_search(label):
    from django.apps import apps

    model_admin = admin.site._registry[apps.get_model(label)]
    assert model_admin.list_filter and model_admin.search_fields
    # Tasks use a recent-window filter instead of a date hierarchy (its DISTINCT is slow on millions of rows).
    assert model_admin.date_hierarchy or label == "queue_app.Task"


def test_the_index_leads_to_the_dashboard_the_audit_log_and_the_api_docs(admin_client_):
    html = admin_client_.get("/admin/").content.decode()
    for url in [reverse("queue-dashboard"), changelist(apps_model("core.AuditEntry")), "/api/docs/"]:
        assert f'href="{url}"' in html
    assert "Upwork Automation" in html


def test_non_staff_users_are_sent_to_the_login_page(operator):
    client = Client()
    client.force_login(operator)
    response = client.get("/admin/queue_app/task/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def apps_model(label):
    from django.apps import apps

    return apps.get_model(label)


def test_task_actions_are_offered_to_operators_but_not_to_viewers(django_user_model):
    from core.permissions import OPERATOR, VIEWER, role_grant

    offered = {}
    for role in (VIEWER, OPERATOR):
        user = django_user_model.objects.create_user(username=f"staff_{role}", password="pw", is_staff=True)
        role_grant(user=user, role=role)
        client = Client()
        client.force_login(user)
        response = client.get("/admin/queue_app/task/")
        assert response.status_code == 200
        offered[role] = "cancel_tasks" in response.content.decode()
    assert offered == {VIEWER: False, OPERATOR: True}
    # A forged action post by a viewer changes nothing.
    from queue_app import services

    task = services.task_enqueue(task_type="noop")
    client = Client()
    client.force_login(django_user_model.objects.get(username="staff_viewer"))
    client.post("/admin/queue_app/task/", {"action": "cancel_tasks", "_selected_action": [task.pk]})
    task.refresh_from_db()
    assert task.status == "queued"
