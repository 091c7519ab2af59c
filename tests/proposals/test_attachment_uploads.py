"""Portfolio uploads: allowed types checked by content, a size limit, random stored names, files gone with their row."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from proposals.models import Attachment

pytestmark = pytest.mark.django_db

URL = "/api/proposals/attachments/"
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def office(main_part: str) -> bytes:
    """A minimal Office Open XML package (a ZIP with its content types first, like Word/Excel/PowerPoint write)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        package.writestr("[Content_Types].xml", "<Types/>")
        package.writestr("_rels/.rels", "<Relationships/>")
        package.writestr(main_part, "<x/>")
    return buffer.getvalue()


@pytest.fixture
def media_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def upload(api_client, name: str, content: bytes, **fields):
    body = {"file": SimpleUploadedFile(name, content), "title": fields.pop("title", name), **fields}
    return api_client.post(URL, body, format="multipart")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("case.pdf", PDF),
        ("shot.png", PNG),
        ("photo.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 32),
        ("photo.jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 32),
        ("anim.gif", b"GIF89a" + b"\x00" * 32),
        ("pic.webp", b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 32),
        ("cv.docx", office("word/document.xml")),
        ("rates.xlsx", office("xl/workbook.xml")),
        ("deck.pptx", office("ppt/presentation.xml")),
    ],
)
def test_allowed_types_are_accepted_and_stored_in_a_random_folder(api_client, media_root, name, content):
    response = upload(api_client, name, content)

    assert response.status_code == 201, response.json()
    stored = Attachment.objects.get().file.name
    assert re.fullmatch(rf"attachments/\d{{4}}/\d{{2}}/[0-9a-f]{{32}}/{re.escape(name)}", stored), stored
    assert Path(media_root, stored).read_bytes() == content


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("portfolio.html", HTML, "not an allowed type"),
        ("logo.svg", SVG, "not an allowed type"),
        ("case.pdf", HTML, "not an allowed type"),  # HTML named .pdf: the name is not believed
        ("notes.txt", b"plain words", "not an allowed type"),
        ("empty.pdf", b"", "empty"),
        ("shot.pdf", PNG, "content is PNG but its name ends in '.pdf'"),
        ("case.html", PDF, "content is PDF but its name ends in '.html'"),
    ],
)
def test_other_types_and_mislabelled_files_are_refused_with_a_field_error(api_client, media_root, name, content, says):
    response = upload(api_client, name, content)

    assert response.status_code == 400
    errors = response.json()["error"]["field_errors"]["file"]
    assert any(says in message for message in errors), errors
    assert not Attachment.objects.exists()
    assert not any(path.is_file() for path in media_root.rglob("*"))  # nothing half-written


def test_a_file_over_attachment_max_bytes_is_refused(api_client, media_root, settings):
    settings.ATTACHMENT_MAX_BYTES = 100

    response = upload(api_client, "big.pdf", PDF + b"\x00" * 200)

    assert response.status_code == 400
    [message] = response.json()["error"]["field_errors"]["file"]
    assert "at most 100 bytes (ATTACHMENT_MAX_BYTES)" in message
    assert upload(api_client, "small.pdf", PDF).status_code == 201


def test_a_file_over_the_form_body_limit_but_within_attachment_max_bytes_is_accepted(api_client, media_root, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    settings.ATTACHMENT_MAX_BYTES = 50_000

    assert upload(api_client, "case.pdf", PDF + b"\x00" * 30_000).status_code == 201
    assert upload(api_client, "huge.pdf", PDF + b"\x00" * 70_000).status_code == 413


def test_two_uploads_of_the_same_name_never_share_a_path(api_client, media_root):
    upload(api_client, "case-study.pdf", PDF, title="one")
    upload(api_client, "case-study.pdf", PDF, title="two")

    names = list(Attachment.objects.values_list("file", flat=True))
    assert len({Path(name).parent for name in names}) == 2
    assert {Path(name).name for name in names} == {"case-study.pdf"}  # the name Upwork's client will see


@pytest.mark.parametrize(
    ("given", "stored"),
    [("../../etc/passwd.pdf", "passwd.pdf"), ("my cv (final).PDF", "my_cv_final.pdf"), ("...pdf", "attachment.pdf")],
)
def test_the_stored_name_is_cleaned_and_kept_inside_its_folder(api_client, media_root, given, stored):
    assert upload(api_client, given, PDF).status_code == 201

    name = Attachment.objects.get().file.name
    assert Path(name).name == stored and Path(media_root, name).resolve().is_relative_to(media_root)


def test_deleting_an_attachment_deletes_its_file_and_it_is_no_longer_served(
    api_client, media_root, client, django_user_model, django_capture_on_commit_callbacks
):
    piece_id = upload(api_client, "case.pdf", PDF).json()["id"]
    stored = Path(media_root, Attachment.objects.get(id=piece_id).file.name)
    client.force_login(django_user_model.objects.create_superuser("boss", "b@example.com", "pw"))
    assert client.get(f"/media/{stored.relative_to(media_root)}").status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        assert api_client.delete(f"{URL}{piece_id}/").status_code == 204

    assert not stored.exists()
    assert client.get(f"/media/{stored.relative_to(media_root)}").status_code == 404


def test_replacing_the_file_deletes_the_old_one(api_client, media_root, django_capture_on_commit_callbacks):
    piece_id = upload(api_client, "case.pdf", PDF).json()["id"]
    old = Path(media_root, Attachment.objects.get(id=piece_id).file.name)

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.patch(
            f"{URL}{piece_id}/", {"file": SimpleUploadedFile("new.png", PNG)}, format="multipart"
        )

    assert response.status_code == 200, response.json()
    new = Path(media_root, Attachment.objects.get(id=piece_id).file.name)
    assert not old.exists() and new.read_bytes() == PNG


def test_the_admin_refuses_html_and_deletes_files_with_their_rows(
    client, django_user_model, media_root, django_capture_on_commit_callbacks
):
    client.force_login(django_user_model.objects.create_superuser("boss", "b@example.com", "pw"))
    add = "/admin/proposals/attachment/add/"

    refused = client.post(add, {"title": "x", "skills": "[]", "file": SimpleUploadedFile("p.html", HTML)})
    assert refused.status_code == 200  # the form again, with the error
    assert "not an allowed type" in refused.content.decode()
    assert not Attachment.objects.exists()

    for title in ("one", "two"):
        saved = client.post(
            add, {"title": title, "skills": "[]", "active": "on", "file": SimpleUploadedFile("a.pdf", PDF)}
        )
        assert saved.status_code == 302
    files = [Path(media_root, name) for name in Attachment.objects.values_list("file", flat=True)]
    assert all(path.exists() for path in files)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/proposals/attachment/",
            {"action": "delete_selected", "_selected_action": [a.id for a in Attachment.objects.all()], "post": "yes"},
        )
    assert response.status_code == 302
    assert not Attachment.objects.exists()
    assert not any(path.exists() for path in files)
