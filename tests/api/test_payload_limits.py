"""Bodies over DATA_UPLOAD_MAX_MEMORY_SIZE answer 413; task payloads over MAX_PAYLOAD_BYTES answer 400."""

from __future__ import annotations

import json

import pytest

from queue_app import registry
from queue_app.models import Task

pytestmark = pytest.mark.django_db


def test_a_body_over_the_upload_limit_answers_413_in_the_error_shape(operator_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"task_type": "noop", "payload": {"pad": "x" * 2000}})
    response = operator_client.generic("POST", "/api/queue/tasks/", body, content_type="application/json")
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "payload_too_large" and "1000" in error["message"]
    assert not Task.objects.exists()


def test_a_form_body_over_the_limit_also_answers_413(operator_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = operator_client.post("/api/queue/tasks/", {"task_type": "noop", "pad": "x" * 2000})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_a_body_under_the_limit_passes(operator_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = {"task_type": "noop", "payload": {}}
    assert operator_client.post("/api/queue/tasks/", body, format="json").status_code == 201


@pytest.fixture
def free_form_type():
    """A task type without a payload serializer: its payload is kept as sent."""
    registry.register("free_form", lambda payload, context: None, description="Test type.")
    yield "free_form"
    registry._registry.pop("free_form", None)


def test_a_task_payload_over_max_payload_bytes_answers_400_naming_the_field(operator_client, settings, free_form_type):
    settings.MAX_PAYLOAD_BYTES = 50
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100_000
    body = {"task_type": free_form_type, "payload": {"pad": "x" * 200}}
    response = operator_client.post("/api/queue/tasks/", body, format="json")
    assert response.status_code == 400, response.json()
    assert "payload" in response.json()["error"]["field_errors"]
    assert not Task.objects.exists()


def test_the_body_limit_applies_to_the_api_only(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post("/admin/login/", {"username": "x", "password": "y" * 2000})
    assert response.status_code != 413


@pytest.mark.parametrize(
    ("knob", "value"),
    [("allocate_mb", 4096), ("allocate_mb", 129), ("sleep_ms", 3_600_000), ("fail_times", 1000), ("result_kb", 1024)],
)
def test_the_noops_test_knobs_are_capped_with_a_400_naming_the_field(operator_client, knob, value):
    """An operator could make a worker allocate 4 GB or sleep an hour through the diagnostic noop."""
    response = operator_client.post("/api/queue/tasks/", {"task_type": "noop", "payload": {knob: value}}, format="json")
    assert response.status_code == 400, response.json()
    assert list(response.json()["error"]["field_errors"]) == [f"payload.{knob}"]
    assert not Task.objects.exists()


def test_the_noops_knobs_within_their_caps_are_accepted(operator_client):
    payload = {"allocate_mb": 128, "sleep_ms": 60_000, "fail_times": 10, "result_kb": 128}
    body = {"task_type": "noop_discovery", "payload": payload, "delay": 3600}
    response = operator_client.post("/api/queue/tasks/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["payload"] == payload
