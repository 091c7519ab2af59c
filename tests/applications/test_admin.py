"""The applications admin: staff only, screenshots shown as thumbnails, actions call the audited services."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from applications.models import Application, ApplicationScreenshot, ApplicationStatus
from core.models import AuditEntry
from tests.applications.conftest import make_application

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:applications_application_changelist"


@pytest.fixture
def staff_client(client, django_user_model):
    admin_user = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(admin_user)
    client.admin_user = admin_user
    return client


def test_non_staff_cannot_open_the_admin(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("viewer", password="pw"))

    response = client.get(reverse(CHANGELIST))

    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_change_page_shows_screenshot_thumbnails_that_load(sandbox, staff_client):
    made = make_application(sandbox, 1)
    shot = ApplicationScreenshot(application=made.application, kind="confirmation", page_url="http://x/")
    shot.image.save("confirm.png", ContentFile(b"\x89PNG admin"), save=True)

    page = staff_client.get(reverse("admin:applications_application_change", args=[made.application.id]))
    listing = staff_client.get(reverse(CHANGELIST))

    image_url = reverse("admin:applications_application_screenshot", args=[made.application.id, shot.id])
    assert page.status_code == 200
    assert f'<img src="{image_url}"'.encode() in page.content
    assert image_url.encode() in listing.content
    image = staff_client.get(image_url)
    assert image.status_code == 200
    assert b"".join(image.streaming_content) == b"\x89PNG admin"


def test_approve_action_approves_and_audits_with_the_staff_user(sandbox, staff_client):
    made = make_application(sandbox, 0, approve=False)

    response = staff_client.post(
        reverse(CHANGELIST), {"action": "approve", "_selected_action": [made.application.id]}, follow=True
    )

    assert response.status_code == 200
    application = Application.objects.get(id=made.application.id)
    assert application.status == ApplicationStatus.APPROVED
    assert application.approved_by == staff_client.admin_user
    entry = AuditEntry.objects.get(action="application.approve", object_id=str(application.id))
    assert entry.source == "admin"
    assert entry.actor == staff_client.admin_user


def test_actions_report_refusals_instead_of_failing(sandbox, staff_client):
    made = make_application(sandbox, 1)
    Application.objects.filter(id=made.application.id).update(status=ApplicationStatus.SUBMITTED)

    response = staff_client.post(
        reverse(CHANGELIST), {"action": "cancel", "_selected_action": [made.application.id]}, follow=True
    )

    assert response.status_code == 200
    assert b"it can be cancelled only when" in response.content
    assert Application.objects.get(id=made.application.id).status == ApplicationStatus.SUBMITTED
