"""Uploads and screenshots under MEDIA_URL are served to staff only, as sandboxed downloads a browser never runs."""

import socket
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from core.permissions import OPERATOR, role_grant
from tests.conftest import CHROMIUM_ARGS, subprocess_env, wait_for

pytestmark = pytest.mark.django_db


def test_media_files_are_served_to_staff_only(client, django_user_model, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    Path(tmp_path, "shot.png").write_bytes(b"\x89PNG fake")
    assert client.get("/media/shot.png").status_code == 302  # to the admin login
    client.force_login(django_user_model.objects.create_user("plain", password="pw"))
    assert client.get("/media/shot.png").status_code == 302
    client.force_login(django_user_model.objects.create_superuser("boss", "b@example.com", "pw"))
    response = client.get("/media/shot.png")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"\x89PNG fake"
    assert client.get("/media/../settings.py").status_code in (400, 404)  # no path traversal


def test_media_is_served_as_a_sandboxed_download_never_rendered(client, django_user_model, settings, tmp_path):
    """A file under MEDIA_ROOT, whatever it holds, is a download: attachment, nosniff, and a CSP sandbox."""
    settings.MEDIA_ROOT = str(tmp_path)
    Path(tmp_path, "planted.html").write_text("<script>alert(1)</script>")
    client.force_login(django_user_model.objects.create_superuser("boss", "b@example.com", "pw"))

    response = client.get("/media/planted.html")

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="planted.html"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"  # not the site-wide policy


# An operator's upload that, opened by a superuser, makes the operator a superuser through the admin's user form.
ESCALATE = """<!doctype html><html><head><title>portfolio</title></head><body><script>
(async () => {
  const url = "/admin/auth/user/%(user_id)s/change/";
  const page = new DOMParser().parseFromString(await (await fetch(url)).text(), "text/html");
  const form = new FormData(page.querySelector("#user_form"));
  form.set("is_staff", "on");
  form.set("is_superuser", "on");
  await fetch(url, {method: "POST", body: form});
  document.title = "escalated";
})();
</script></body></html>"""
PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc00000030101001d2e0c3a0000000049454e44ae426082"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.browser
def test_an_html_file_under_media_cannot_run_script_in_a_staff_session(
    processes, django_user_model, tmp_path, chromium_executable
):
    """The stored-XSS path: HTML is refused at upload; one planted on disk is only downloaded, its script never runs.

    A real server process (runserver), not live_server: Django's test server answers MEDIA_URL itself.
    """
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    media_root = tmp_path / "media"
    media_root.mkdir()
    operator = django_user_model.objects.create_user(username="op", password="pw-op")
    role_grant(user=operator, role=OPERATOR)
    django_user_model.objects.create_superuser("boss", "b@example.com", "pw-boss-browser")
    payload = (ESCALATE % {"user_id": operator.id}).encode()

    api = APIClient()
    api.force_authenticate(operator)
    for name in ("portfolio.html", "portfolio.pdf", "logo.svg"):
        refused = api.post(
            "/api/proposals/attachments/", {"file": SimpleUploadedFile(name, payload), "title": "p"}, format="multipart"
        )
        assert refused.status_code == 400, name
    Path(media_root, "planted.html").write_bytes(payload)  # as if it reached the disk some other way
    Path(media_root, "shot.png").write_bytes(PNG_1PX)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    processes.start(
        "runserver",
        base.removeprefix("http://"),
        "--noreload",
        "--insecure",
        env=subprocess_env(MEDIA_ROOT=str(media_root)),
    )
    wait_for(lambda: answers(port), timeout=60, message="runserver to listen")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{base}/admin/login/?next=/admin/")
        page.fill("#id_username", "boss")
        page.fill("#id_password", "pw-boss-browser")
        page.click("input[type=submit]")
        page.wait_for_selector("#site-name")

        with page.expect_download() as download:
            try:
                page.goto(f"{base}/media/planted.html")
            except PlaywrightError as error:  # Chromium aborts a navigation that turns into a download
                assert "Download is starting" in str(error) or "ERR_ABORTED" in str(error), error
        assert download.value.suggested_filename == "planted.html"

        # Opened some other way, the sandbox leaves the page no script and no origin.
        page.goto(f"{base}/admin/")
        csp = page.evaluate("async () => (await fetch('/media/planted.html')).headers.get('content-security-policy')")
        assert csp == "sandbox; default-src 'none'"

        # Pictures still show in an <img> although they are downloads when opened.
        width = page.evaluate(
            """() => new Promise((done) => { const img = new Image(); img.onload = () => done(img.naturalWidth);
                img.onerror = () => done(-1); img.src = '/media/shot.png'; })"""
        )
        assert width == 1
        browser.close()

    operator.refresh_from_db()
    assert not operator.is_superuser and not operator.is_staff
