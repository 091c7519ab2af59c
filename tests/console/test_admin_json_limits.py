"""JSON typed into an admin form: nested too deep, it is a form error, not a RecursionError (500)."""

from __future__ import annotations

import pytest
from django import forms
from django.contrib import admin
from django.test import RequestFactory

from core.parsers import JSON_MAX_DEPTH, DepthLimitedJSONFormField
from jobs.models import SearchProfile
from queue_app.models import ScheduledTask

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000 + "]" * 100_000  # Python's json module gives up at about 1,000 levels
OVER_THE_LIMIT = "[" * (JSON_MAX_DEPTH + 1) + "]" * (JSON_MAX_DEPTH + 1)


def test_every_admin_form_that_edits_json_limits_its_depth(boss):
    request = RequestFactory().get("/admin/")
    request.user = boss
    unlimited = []
    for model, model_admin in admin.site._registry.items():
        if not (model_admin.has_add_permission(request) or model_admin.has_change_permission(request)):
            continue  # read-only admins never take input
        for name, field in model_admin.get_form(request).base_fields.items():
            if isinstance(field, forms.JSONField) and not isinstance(field, DepthLimitedJSONFormField):
                unlimited.append(f"{model.__name__}.{name}")
    assert unlimited == []


@pytest.mark.parametrize("payload", [DEEP, OVER_THE_LIMIT], ids=["recursion", "over-the-limit"])
def test_a_schedule_with_deep_json_is_refused_with_a_form_error(boss_client, payload):
    form = {
        "name": "deep",
        "enabled": "on",
        "cron_expression": "0 * * * *",
        "timezone": "UTC",
        "task_type": "noop",
        "payload": payload,
        "priority": "normal",
        "description": "",
    }
    response = boss_client.post("/admin/queue_app/scheduledtask/add/", form)
    assert response.status_code == 200
    assert f"Nested deeper than {JSON_MAX_DEPTH} levels." in response.content.decode()
    assert not ScheduledTask.objects.filter(name="deep").exists()


def test_search_profile_weights_nested_too_deep_are_a_form_error(boss_client):
    response = boss_client.post(
        "/admin/jobs/searchprofile/add/",
        {"name": "deep", "source": "auto", "strategies": "keywords", "score_weights": DEEP, "poll_seconds": "60"},
    )
    assert response.status_code == 200
    assert f"Nested deeper than {JSON_MAX_DEPTH} levels." in response.content.decode()
    assert not SearchProfile.objects.filter(name="deep").exists()
