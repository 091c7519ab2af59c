"""The proposals API: list and read with filters and the job beside; edit, regenerate, approve, reject, attachments."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from model_bakery import baker
from rest_framework.test import APIClient

from core.models import AuditEntry
from jobs.models import Job, JobStatus
from proposals import services
from proposals.models import Attachment, ChosenBy, Proposal, ProposalStatus
from queue_app.models import Task

pytestmark = pytest.mark.django_db
BASE = "/api/proposals/proposals/"


@pytest.fixture
def proposal(settings, job, profile) -> Proposal:
    settings.PROPOSAL_GENERATOR = "template"
    return services.proposal_generate(job_id=job.id)


def test_every_endpoint_requires_authentication(proposal):
    anonymous = APIClient()
    for url in [BASE, f"{BASE}{proposal.id}/", "/api/proposals/profiles/", "/api/proposals/attachments/"]:
        assert anonymous.get(url).status_code in (401, 403)
    assert anonymous.post(f"{BASE}{proposal.id}/approve/").status_code in (401, 403)
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.DRAFT


def test_list_filters_by_status_and_reads_the_job_beside_the_text(api_client, proposal, profile, settings):
    other = services.proposal_generate(job_id=baker.make(Job, title="Other job", status=JobStatus.NEW).id)
    services.proposal_reject(proposal_id=other.id, feedback="no")

    listed = api_client.get(BASE, {"status": "draft"}).json()
    assert [item["id"] for item in listed["results"]] == [proposal.id]
    assert listed["results"][0]["job_title"] == proposal.job.title

    detail = api_client.get(f"{BASE}{proposal.id}/").json()
    assert detail["job_detail"]["title"] == proposal.job.title
    assert detail["job_detail"]["description"] == proposal.job.description
    assert detail["text"] == proposal.versions.get().text
    assert [v["number"] for v in detail["versions"]] == [1]


def test_edit_makes_a_version_and_bad_input_is_a_field_error(api_client, proposal, user):
    response = api_client.post(f"{BASE}{proposal.id}/edit/", {"text": "Better words."}, format="json")
    assert response.status_code == 201
    assert (response.json()["number"], response.json()["source"]) == (2, "edit")

    bad = api_client.post(f"{BASE}{proposal.id}/edit/", {}, format="json")
    assert bad.status_code == 400
    assert "text" in bad.json()["error"]["field_errors"]


def test_approve_and_reject_actions_call_the_audited_services(api_client, proposal, user, settings):
    response = api_client.post(f"{BASE}{proposal.id}/approve/", {}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "approved"
    entry = AuditEntry.objects.get(action="proposal.approve")
    assert (entry.source, entry.actor) == ("api", user)

    again = api_client.post(f"{BASE}{proposal.id}/reject/", {"feedback": "late"}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid_transition"


def test_regenerate_enqueues_update_proposal(api_client, proposal):
    response = api_client.post(f"{BASE}{proposal.id}/regenerate/", {"feedback": "Shorter."}, format="json")
    assert response.status_code == 202
    task = Task.objects.get(task_type="update_proposal")
    assert task.payload["proposal_id"] == proposal.id and task.payload["feedback"] == "Shorter."


def test_generate_and_batch_enqueue_tasks_and_validate(api_client, job):
    assert api_client.post(f"{BASE}generate/", {"job_id": job.id}, format="json").status_code == 202
    assert api_client.post(f"{BASE}batch/", {"limit": 3}, format="json").status_code == 202
    assert set(Task.objects.values_list("task_type", flat=True)) == {"generate_proposal", "batch_generate_proposals"}
    bad = api_client.post(f"{BASE}generate/", {"job_id": "x", "generator": "gpt"}, format="json")
    assert bad.status_code == 400
    assert set(bad.json()["error"]["field_errors"]) == {"job_id", "generator"}


def test_attachments_override_and_upload(api_client, proposal, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    upload = api_client.post(
        "/api/proposals/attachments/",
        {
            "file": SimpleUploadedFile("case.pdf", b"%PDF-1.4"),
            "title": "Case study",
            "description": "A case.",
            "skills": "Django, PostgreSQL",
        },
        format="multipart",
    )
    assert upload.status_code == 201, upload.json()
    piece = Attachment.objects.get(title="Case study")
    assert piece.skills == ["Django", "PostgreSQL"]
    assert (tmp_path / piece.file.name).exists()

    response = api_client.post(f"{BASE}{proposal.id}/attachments/", {"attachment_ids": [piece.id]}, format="json")
    assert response.status_code == 200
    assert [(a["attachment"], a["chosen_by"]) for a in response.json()["attachments"]] == [(piece.id, ChosenBy.USER)]
    unknown = api_client.post(f"{BASE}{proposal.id}/attachments/", {"attachment_ids": [987654]}, format="json")
    assert unknown.status_code == 400


def test_a_second_default_profile_is_a_field_error(api_client, profile):
    response = api_client.post("/api/proposals/profiles/", {"name": "Bob", "is_default": True}, format="json")
    assert response.status_code == 400
    assert "is_default" in response.json()["error"]["field_errors"]
