"""Content Security Policy on every page (django-csp), and the pages it covers still work in Chromium."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from tests.conftest import CHROMIUM_ARGS

pytestmark = pytest.mark.django_db

PAGES = ["/admin/", "/admin/queue/dashboard/", "/admin/rq/", "/api/docs/", "/api/redoc/", "/admin/auth/user/"]


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("boss", "b@example.com", "pw"))
    return client


def directives(header: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


@pytest.mark.parametrize("url", [*PAGES, "login"])
def test_every_page_carries_a_csp_without_inline_script(staff_client, client, url):
    response = client.logout() or client.get("/admin/login/") if url == "login" else staff_client.get(url)

    assert response.status_code == 200
    policy = directives(response["Content-Security-Policy"])
    assert policy["script-src"][0] == "'self'"
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["default-src"] == ["'self'"]


def test_the_api_answers_carry_the_csp_too(client):
    assert "default-src 'self'" in client.get("/api/queue/tasks/")["Content-Security-Policy"]


def test_inline_scripts_on_the_rq_pages_are_allowed_by_their_hash(staff_client):
    """django-rq's job pages carry one inline script; the policy lists its hash (a django-rq upgrade shows here)."""
    response = staff_client.get("/admin/rq/queues/0/")
    assert response.status_code == 200
    inline = re.findall(r"<script[^>]*>(.*?)</script>", response.content.decode(), re.S)
    inline = [body for body in inline if body.strip()]
    assert inline, "the page has no inline script any more: drop DJANGO_RQ_INLINE_SCRIPT_HASH"
    allowed = directives(response["Content-Security-Policy"])["script-src"]
    for body in inline:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in allowed


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_admin_dashboard_and_api_docs_work_in_chromium_under_the_csp(
    live_server, django_user_model, chromium_executable
):
    from playwright.sync_api import sync_playwright

    django_user_model.objects.create_superuser("boss", "b@example.com", "pw-boss-browser")
    violations: list[str] = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on(
            "console",
            lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
        )
        page.goto(f"{live_server.url}/admin/login/?next=/admin/")
        page.fill("#id_username", "boss")
        page.fill("#id_password", "pw-boss-browser")
        page.click("input[type=submit]")
        page.wait_for_selector("#site-name")

        page.goto(f"{live_server.url}/admin/auth/user/")
        page.check("#action-toggle")  # the admin's own script selects every row
        assert page.locator("input.action-select:checked").count() == 1

        page.goto(f"{live_server.url}/admin/rq/queues/0/")
        page.wait_for_selector("#changelist")

        page.goto(f"{live_server.url}/admin/queue/dashboard/")
        page.wait_for_selector("#queue-dashboard")
        box = page.locator("#throughput-24h svg").bounding_box()
        assert box and box["width"] > 200

        page.goto(f"{live_server.url}/api/docs/")
        page.wait_for_selector("#swagger-ui .opblock", timeout=30_000)  # Swagger UI drew the operations
        assert page.locator("#swagger-ui .opblock").count() > 10

        page.goto(f"{live_server.url}/api/redoc/")
        page.wait_for_selector("[role=search], .api-content", timeout=30_000)  # Redoc drew the page
        browser.close()

    # Only Redoc's "powered by" logo from its CDN is refused, on purpose: nothing our pages need is blocked.
    assert [v for v in violations if "https://cdn.redoc.ly/" not in v] == [], violations
