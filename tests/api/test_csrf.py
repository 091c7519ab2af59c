"""Session-authenticated writes need the CSRF token; token-authenticated clients need none."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from rest_framework.test import APIClient

from queue_app.models import Task

pytestmark = pytest.mark.django_db


def logged_in_client(user, password: str) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    # django-axes counts logins per client address: authenticate() needs the request it came with.
    assert client.login(request=RequestFactory().get("/"), username=user.username, password=password)
    return client


def test_a_session_write_without_the_csrf_token_is_refused(operator):
    client = logged_in_client(operator, "pw-op")
    response = client.post("/api/queue/tasks/", {"task_type": "noop"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert "CSRF" in response.json()["error"]["message"]
    assert not Task.objects.exists()


def test_a_session_write_with_the_csrf_token_is_accepted(operator):
    client = logged_in_client(operator, "pw-op")
    client.get("/admin/login/")  # any page that sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    response = client.post("/api/queue/tasks/", {"task_type": "noop"}, format="json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201


def test_a_session_read_needs_no_csrf_token(viewer):
    assert logged_in_client(viewer, "pw-viewer").get("/api/queue/tasks/").status_code == 200


def test_token_clients_are_not_subject_to_csrf(operator_client):
    operator_client.handler.enforce_csrf_checks = True
    assert operator_client.post("/api/queue/tasks/", {"task_type": "noop"}, format="json").status_code == 201
