"""Uploads and screenshots under MEDIA_URL are served to staff only."""

from pathlib import Path

import pytest

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
