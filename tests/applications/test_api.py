"""The applications API: create, approve, schedule, cancel, reopen, dry-run, batch, limits; audited; auth required."""

from __future__ import annotations

from django.core.files.base import ContentFile
from rest_framework.test import APIClient

from applications.models import Application, ApplicationScreenshot, ApplicationStatus
from core.models import AuditEntry
from queue_app.models import Task
from tests.applications.conftest import make_application

BASE = "/api/applications/applications/"


def audit_actions(application_id: int) -> list[str]:
    return list(
        AuditEntry.objects.filter(object_type="application", object_id=str(application_id))
        .order_by("id")
        .values_list("action", flat=True)
    )


def test_every_endpoint_requires_authentication(db):
    client = APIClient()
    assert client.get(BASE).status_code in (401, 403)
    assert client.post(f"{BASE}1/approve/").status_code in (401, 403)
    assert client.get(f"{BASE}limits/").status_code in (401, 403)


def test_create_approve_schedule_and_read_back(sandbox, api_client, user):
    made = make_application(sandbox, 0, approve=False)
    Application.objects.all().delete()  # create it through the API instead

    created = api_client.post(BASE, {"proposal_id": made.proposal.id, "bid_amount": "70.00"}, format="json")
    assert created.status_code == 201, created.content
    application_id = created.json()["id"]
    assert created.json()["status"] == "awaiting_approval"

    approved = api_client.post(f"{BASE}{application_id}/approve/", {}, format="json")
    assert approved.status_code == 200, approved.content
    body = approved.json()
    assert body["status"] == "approved"
    assert body["cover_letter"] == made.letter
    assert body["screening_answers"] == made.answers
    assert body["approved_by"] == user.username

    scheduled = api_client.post(
        f"{BASE}{application_id}/schedule/", {"run_at": "2099-01-01T09:00:00+00:00"}, format="json"
    )
    assert scheduled.status_code == 200, scheduled.content
    assert scheduled.json()["status"] == "scheduled"
    task = Task.objects.get(task_type="submit_application")
    assert task.payload["application_id"] == application_id
    assert not task.payload.get("dry_run")
    assert task.run_at.year == 2099

    assert audit_actions(application_id) == ["application.create", "application.approve", "application.schedule"]
    approve_entry = AuditEntry.objects.get(action="application.approve", object_id=str(application_id))
    assert approve_entry.actor == user
    assert approve_entry.source == "api"


def test_approval_with_edited_answers_and_a_bad_one(sandbox, api_client):
    made = make_application(sandbox, 0, approve=False)
    url = f"{BASE}{made.application.id}/approve/"

    bad = api_client.post(url, {"screening_answers": [{"question": "Not asked?", "answer": "x"}]}, format="json")
    assert bad.status_code == 400
    assert "screening_answers" in bad.json()["error"]["field_errors"]
    assert Application.objects.get(id=made.application.id).status == ApplicationStatus.AWAITING_APPROVAL

    question = made.answers[1]["question"]
    good = api_client.post(
        url, {"screening_answers": [{"question": question, "answer": "Mornings, CET."}]}, format="json"
    )
    assert good.status_code == 200, good.content
    assert good.json()["screening_answers"][1] == {"question": question, "answer": "Mornings, CET."}


def test_cancel_then_reopen_is_refused_but_a_stop_can_be_reopened(sandbox, api_client):
    made = make_application(sandbox, 1)

    cancelled = api_client.post(f"{BASE}{made.application.id}/cancel/")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert api_client.post(f"{BASE}{made.application.id}/reopen/").status_code == 409

    other = make_application(sandbox, 2)
    Application.objects.filter(id=other.application.id).update(status=ApplicationStatus.NEEDS_ATTENTION)
    reopened = api_client.post(f"{BASE}{other.application.id}/reopen/")
    assert reopened.status_code == 200
    assert reopened.json()["status"] == "awaiting_approval"
    assert "application.cancel" in audit_actions(made.application.id)
    assert "application.reopen" in audit_actions(other.application.id)


def test_submitted_applications_cannot_be_cancelled(sandbox, api_client):
    made = make_application(sandbox, 1)
    Application.objects.filter(id=made.application.id).update(status=ApplicationStatus.SUBMITTED)

    response = api_client.post(f"{BASE}{made.application.id}/cancel/")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"


def test_dry_run_and_batch_queue_tasks(sandbox, api_client):
    made = make_application(sandbox, 1)

    dry = api_client.post(f"{BASE}{made.application.id}/dry-run/")
    assert dry.status_code == 202, dry.content
    assert Task.objects.get(id=dry.json()["id"]).payload == {"application_id": made.application.id, "dry_run": True}

    batch = api_client.post(f"{BASE}batch/", {"limit": 3}, format="json")
    assert batch.status_code == 202, batch.content
    assert Task.objects.get(id=batch.json()["id"]).task_type == "batch_submit_applications"


def test_batch_is_refused_when_the_kill_switch_is_off(sandbox, api_client, settings):
    settings.APPLICATIONS_ENABLED = False

    response = api_client.post(f"{BASE}batch/", {}, format="json")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "gate_refused"
    assert not Task.objects.filter(task_type="batch_submit_applications").exists()


def test_limits_show_settings_and_usage(sandbox, api_client, settings):
    settings.APPLICATIONS_DAILY_CAP = 3

    body = api_client.get(f"{BASE}limits/").json()

    assert body["settings"]["APPLICATIONS_DAILY_CAP"] == 3
    assert body["today"] == {"submissions": 0, "cap": 3, "remaining": 3}
    assert body["month"]["budget"] == 100


def test_detail_lists_screenshots_with_a_working_link(sandbox, api_client):
    made = make_application(sandbox, 1)
    shot = ApplicationScreenshot(application=made.application, kind="dry_run", page_url="http://x/")
    shot.image.save("shot.png", ContentFile(b"\x89PNG fake"), save=True)

    detail = api_client.get(f"{BASE}{made.application.id}/").json()

    assert [s["kind"] for s in detail["screenshots"]] == ["dry_run"]
    image = api_client.get(detail["screenshots"][0]["url"])
    assert image.status_code == 200
    assert b"".join(image.streaming_content) == b"\x89PNG fake"
    assert api_client.get(f"{BASE}{made.application.id}/screenshots/999999/").status_code == 404


def test_list_filters_by_status(sandbox, api_client):
    first = make_application(sandbox, 1)
    make_application(sandbox, 2, approve=False)

    listed = api_client.get(BASE, {"status": "approved"}).json()

    assert [row["id"] for row in listed["results"]] == [first.application.id]
