"""The OpenAPI schema validates without warnings; schema and docs need a role; the docs load no CDN assets."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_the_schema_validates_with_no_warnings_or_errors(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out), stderr=io.StringIO())
    text = out.read_text()
    assert text.startswith("openapi: 3.")
    assert "/api/queue/tasks/{id}/cancel/:" in text


def test_the_schema_endpoint_serves_openapi_json_to_a_viewer(viewer_client, anonymous_client):
    assert anonymous_client.get("/api/schema/").status_code == 401
    response = viewer_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/api/queue/scheduled/{id}/enable/" in schema["paths"]
    error = schema["paths"]["/api/queue/tasks/"]["post"]["responses"]["403"]
    assert error["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert {"tokenAuth", "cookieAuth"} <= set(schema["components"]["securitySchemes"])


def test_swagger_ui_is_self_hosted(django_user_model, client):
    staff = django_user_model.objects.create_user(username="staffer", password="pw", is_staff=True)
    client.force_login(staff)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower() and "https://" not in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html


def test_redoc_is_self_hosted(viewer, client):
    client.force_login(viewer)
    response = client.get("/api/redoc/")
    assert response.status_code == 200
    assert "/static/drf_spectacular_sidecar/redoc/" in response.content.decode()


def test_the_docs_refuse_anonymous_visitors(client):
    assert client.get("/api/docs/").status_code in (401, 403)
