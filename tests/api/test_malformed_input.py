"""Malformed input answers 400/401 in the error shape, never a 500: deep JSON, non-ASCII bearer tokens."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from rest_framework.test import APIClient

from queue_app.models import Task

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("token", ["tökén", "\u00ff" * 40, "scrape-secret\u00e9"])
def test_a_non_ascii_prometheus_bearer_answers_401_not_500(settings, token):
    settings.PROMETHEUS_TOKEN = "scrape-secret"

    response = APIClient().get("/api/queue/metrics/prometheus", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 401
    ok = APIClient().get("/api/queue/metrics/prometheus", HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert ok.status_code == 200


@pytest.mark.parametrize("depth", [65, 5_000, 100_000])
def test_json_nested_too_deep_answers_400(operator_client, depth):
    body = '{"task_type": "noop", "payload": {"x": ' + "[" * depth + "]" * depth + "}}"

    response = operator_client.generic("POST", "/api/queue/tasks/", body, content_type="application/json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "parse_error" and "nested deeper than 64 levels" in error["message"]
    assert not Task.objects.exists()


def test_json_nested_within_the_limit_is_accepted(operator_client):
    payload = {"x": json.loads("[" * 60 + "]" * 60)}

    response = operator_client.post("/api/queue/tasks/", {"task_type": "noop", "payload": payload}, format="json")

    assert response.status_code == 201, response.json()


def test_deep_json_in_a_multipart_skills_field_answers_400(operator_client):
    skills = "[" * 5_000 + "]" * 5_000

    response = operator_client.post("/api/proposals/attachments/", {"title": "x", "skills": skills})

    assert response.status_code == 400
    assert "skills" in response.json()["error"]["field_errors"]


@pytest.mark.parametrize("content_type", ["multipart", "form"])
def test_deep_json_in_a_form_payload_field_answers_400(operator_client, content_type):
    body = {"task_type": "noop", "payload": "[" * 5_000 + "]" * 5_000}
    if content_type == "multipart":
        response = operator_client.post("/api/queue/tasks/", body)
    else:
        form = urlencode(body)
        response = operator_client.generic("POST", "/api/queue/tasks/", form, "application/x-www-form-urlencoded")

    assert response.status_code == 400
    assert "payload" in response.json()["error"]["field_errors"]
    assert not Task.objects.exists()
